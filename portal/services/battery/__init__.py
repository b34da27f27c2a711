"""Battery insight: discharges measured from telemetry, the usable capacity they show, its trend and the
replace-by date it predicts, and the alert when health falls below the limit."""
