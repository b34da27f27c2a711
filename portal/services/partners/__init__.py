"""Partners: sharing devices, Shared With Me, license orders, assigning activation codes, Renewal Support
and renewal quotes (from shared devices or an uploaded MyRenewals file).
"""
