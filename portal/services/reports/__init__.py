"""Reports: MyInventory and MyRenewals (CSV and XLSX writers) and the outage report, scoped to what a
signed-in user may see.
"""
