"""Devices as a user sees them: the rows of the device list with their plan today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from portal.extensions import db
from portal.models import Device, User
from portal.services import access, licensing
from portal.services.plans import Plan
from portal.services.subscription_timeline import current_segment


@dataclass(frozen=True)
class DeviceRow:
    device: Device
    plan: Plan
    term_ends_on: date | None
    shared: bool


def visible_device_rows(user: User, *, today: date) -> list[DeviceRow]:
    """Every device the user may see, with the plan running today and when its term ends."""
    devices = db.session.scalars(access.visible_devices(user).order_by(Device.serial))
    rows = []
    for device in devices:
        timeline = licensing.device_timeline(device)
        segment = current_segment(timeline, today)
        rows.append(
            DeviceRow(
                device=device,
                plan=segment.plan if segment else Plan.BASIC,
                term_ends_on=segment.end if segment else None,
                shared=device.owner_company_id != user.company_id,
            )
        )
    return rows
