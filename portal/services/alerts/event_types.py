"""Which events raise alerts (data): the alert types, severities, and the APC codes and wording that map to them."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "on_battery": "On battery",
    "low_battery": "Low battery",
    "replace_battery": "Replace battery",
    "overload": "Overload",
    "self_test_failed": "Self-test failed",
    "battery_health_low": "Battery health low",
    "device_offline": "Device offline",
    "firmware_available": "Firmware available",
    "threshold_load": "Load above limit",
    "threshold_runtime": "Runtime below limit",
    "threshold_voltage": "Input voltage outside band",
    "trial_ending": "Trial ending",
    "renewal_due": "Renewal due",
}
# A threshold alert that clears says so in its title (its type stays the same, for policies and the log).
CLEARED_LABELS: dict[str, str] = {
    "threshold_load": "Load back within limit",
    "threshold_runtime": "Runtime back above limit",
    "threshold_voltage": "Input voltage back within band",
}
SEVERITIES = ("critical", "warning", "informational")
# Follow-up alerts close an earlier one: not a type of their own in the policy form, they go to the
# policies that receive the alert they close, as if they had its severity. type -> (label, closes, severity)
FOLLOW_UPS: dict[str, tuple[str, str, str]] = {
    "device_online": ("Device back online", "device_offline", "critical"),
}


def alert_label(event_type: str, details: dict | None = None) -> str:
    """The alert's title words: a follow-up its own words, a cleared threshold says it cleared, anything
    else its type's label."""
    if event_type in FOLLOW_UPS:
        return FOLLOW_UPS[event_type][0]
    if (details or {}).get("raised") is False and event_type in CLEARED_LABELS:
        return CLEARED_LABELS[event_type]
    return EVENT_TYPES.get(event_type, event_type)


def policy_match_key(event_type: str, severity: str) -> tuple[str, str]:
    """The (type, severity) a policy must want for this alert: a follow-up matches the alert it closes."""
    if event_type in FOLLOW_UPS:
        _, closes, closes_severity = FOLLOW_UPS[event_type]
        return closes, closes_severity
    return event_type, severity


# APC event codes -> event type.
EVENT_CODES: dict[str, str] = {
    "0x0109": "on_battery",
    "0x010F": "low_battery",
    "0x0107": "low_battery",  # discharged battery
    "0x0119": "replace_battery",
    "0x0103": "overload",
}
# Events without a code are recognised by APC's wording (lower-cased substring -> event type).
EVENT_TEXTS: tuple[tuple[str, str], ...] = (
    ("self-test failed", "self_test_failed"),
    ("firmware update is available", "firmware_available"),
    ("new firmware", "firmware_available"),
)


def event_type_for(code: str, text: str) -> str | None:
    """The alert type an APC event maps to, or None when it raises no alert."""
    mapped = EVENT_CODES.get((code or "").strip().upper().replace("0X", "0x"))
    if mapped:
        return mapped
    lowered = (text or "").lower()
    for fragment, event_type in EVENT_TEXTS:
        if fragment in lowered:
            return event_type
    return None

