"""The outbox: every message the portal sends (email, webhooks) is queued in the database, then delivered,
retried with backoff and logged by `flask notify`. Knows nothing of why a message is sent.
"""
