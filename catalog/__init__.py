"""Product data shared by the portal and the device lab: the Smart-UPS model catalogue and firmware releases.

Pure data and look-ups (no database, no network); `portal/` and `simulator/` both read it, neither owns it.
"""
