"""Alerts: notification policies, which events and thresholds raise alerts, the one fan-out into outbox
deliveries, channel formats (email, Slack, Teams, webhook), unsubscribes, maintenance windows, renewal notices.
"""
