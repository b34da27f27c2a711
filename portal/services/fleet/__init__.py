"""The fleet: claiming devices, what they report (telemetry store), their live state, commands, the dashboard.

Pure rules: `operating_modes` (mode precedence), `battery_life`, `firmware`; the rest reads and writes devices.
"""
