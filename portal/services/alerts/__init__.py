"""Alerts: notification policies, which events and thresholds raise alerts, the fan-out into deliveries,
alert channel formats (email, Slack, Teams, webhook) and renewal notices. Messages leave through `outbox`.
"""
