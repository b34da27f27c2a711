"""The battery-health alert: raised once when a device's estimate falls below the limit, cleared on recovery.

The state is kept like a threshold alert's (``DeviceAlertState``, metric ``battery_health``) and the alert
goes through the device's normal notification policies (plan, maintenance windows, channels).
"""

from __future__ import annotations

from datetime import date, datetime

from portal.extensions import db
from portal.models import Device, DeviceAlertState
from portal.services.alerts.device_alerts import raise_device_alert

METRIC = "battery_health"
EVENT_TYPE = "battery_health_low"


def check_health(device: Device, health: float, limit: float, *, ts: datetime, now: datetime, today: date) -> int:
    """Raise the alert when health is newly below ``limit``; clear it when back above. Deliveries queued."""
    state = db.session.get(DeviceAlertState, (device.id, METRIC))
    if state is None:
        state = DeviceAlertState(device_id=device.id, metric=METRIC, active=False, value=health, changed_at=now)
        db.session.add(state)
    state.value = round(health, 3)
    low = health < limit
    if low == state.active:
        return 0
    state.active, state.changed_at = low, now
    if not low:
        return 0
    text = (
        f"Battery health is {round(health * 100)} % of new capacity, below the {round(limit * 100)} % limit, "
        "measured from its recent discharges. Plan a battery replacement."
    )
    details = {"metric": METRIC, "value": round(health * 100, 1), "limit": round(limit * 100, 1)}
    return len(
        raise_device_alert(device, EVENT_TYPE, "warning", text, ts=ts, now=now, today=today, details=details)
    )
