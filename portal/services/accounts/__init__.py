"""Accounts: companies, users and co-worker invitations, and who may see a device (tenancy).

Every other package asks `access` which devices a user may see; nothing here knows about plans or alerts.
"""
