"""The JSON API's accounts: personal access tokens (created, revoked, checked) and the audit of every call.

What a token may read or do is never decided here: the API calls the same tenancy and plan rules the pages use.
"""
