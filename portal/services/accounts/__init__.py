"""Accounts: companies, users, co-worker invitations, sign-in sessions, two-factor sign-in, and who may see a
device (tenancy).

Every other package asks `access` which devices a user may see; nothing here knows about plans or alerts.
"""
