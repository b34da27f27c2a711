"""The battery replacement logbook: a new battery's day, cartridge SKU and note reset the install date,
the replace-by date and the health baseline; every replacement stays on record."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import BatteryReplacement, Device, DeviceAlertState, User
from portal.services.battery.health_alerts import METRIC
from portal.services.errors import DomainError

SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,19}$")
NOTE_MAX = 200


class ReplacementError(DomainError):
    """A battery replacement that cannot be recorded."""


def replacements(device_id: int) -> list[BatteryReplacement]:
    """The device's replacements, newest first."""
    return list(
        db.session.scalars(
            select(BatteryReplacement)
            .where(BatteryReplacement.device_id == device_id)
            .order_by(BatteryReplacement.replaced_on.desc(), BatteryReplacement.id.desc())
        )
    )


def baseline(device_id: int) -> date | None:
    """The day of the newest recorded replacement: discharges before it belong to the old battery."""
    return db.session.scalar(
        select(BatteryReplacement.replaced_on)
        .where(BatteryReplacement.device_id == device_id)
        .order_by(BatteryReplacement.replaced_on.desc())
        .limit(1)
    )


def record_replacement(
    user: User, device: Device, *, replaced_on: date | None, sku: str, note: str, today: date, now: datetime
) -> BatteryReplacement:
    """Record a new battery; the device's install date becomes its day. The caller commits."""
    if replaced_on is None:
        raise ReplacementError("Enter the day the battery was replaced.", field="replaced_on")
    if replaced_on > today:
        raise ReplacementError("The replacement day is in the future; record it once it is done.", field="replaced_on")
    newest = baseline(device.id)
    if newest is not None and replaced_on < newest:
        raise ReplacementError(
            f"A later replacement ({newest.strftime('%d %b %Y')}) is already recorded; enter a day on or after it.",
            field="replaced_on",
        )
    cartridge = (sku or "").strip().upper()
    if not SKU_PATTERN.match(cartridge):
        raise ReplacementError("Enter the cartridge SKU as printed on it, such as APCRBC7.", field="sku")
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise ReplacementError(f"Keep the note to {NOTE_MAX} characters.", field="note")
    row = BatteryReplacement(
        device_id=device.id, replaced_on=replaced_on, sku=cartridge, note=text,
        recorded_by_user_id=user.id, recorded_at=now,
    )  # fmt: skip
    db.session.add(row)
    device.battery_installed_on = replaced_on
    alert = db.session.get(DeviceAlertState, (device.id, METRIC))
    if alert is not None:  # a new battery: the next low figure alerts again
        alert.active, alert.changed_at = False, now
    db.session.flush()
    return row
