"""The battery health the battery pass stored, as SQL: which discharges belong to the battery in place now,
and the newest estimate per device (MyInventory, the Battery health page). Reads only."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from portal.models import BatteryDischarge, BatteryReplacement


def current_battery(device_id_column):
    """Discharges of the battery in place now: on or after the newest replacement in the logbook."""
    replaced = (
        select(func.max(BatteryReplacement.replaced_on))
        .where(BatteryReplacement.device_id == device_id_column)
        .scalar_subquery()
    )
    return or_(replaced.is_(None), BatteryDischarge.started_at >= replaced)


def latest_estimate(column, device_id_column):
    """A correlated subquery: ``column`` of the device's newest discharge (the estimate the pass stored)."""
    return (
        select(column)
        .where(BatteryDischarge.device_id == device_id_column, current_battery(device_id_column))
        .order_by(BatteryDischarge.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
