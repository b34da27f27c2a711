"""The outbox: every message the portal sends (email, webhooks) is queued in the caller's transaction, then
delivered, retried with backoff and logged by `flask notify` (`queue`, `transports`). Knows nothing of why.
"""
