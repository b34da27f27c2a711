"""Which events raise alerts (data): the alert types, severities, and the APC codes and wording that map to them."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "on_battery": "On battery",
    "low_battery": "Low battery",
    "replace_battery": "Replace battery",
    "overload": "Overload",
    "self_test_failed": "Self-test failed",
    "device_offline": "Device offline",
    "firmware_available": "Firmware available",
    "threshold_load": "Load above limit",
    "threshold_runtime": "Runtime below limit",
    "threshold_voltage": "Input voltage outside band",
    "trial_ending": "Trial ending",
    "renewal_due": "Renewal due",
}
SEVERITIES = ("critical", "warning", "informational")
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
