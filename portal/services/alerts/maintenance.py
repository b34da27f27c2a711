"""Maintenance windows: while one runs, a device's events are still logged but raise no alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Device, MaintenanceWindow, User
from portal.services.accounts import access
from portal.services.errors import DomainError

MAX_WINDOW = timedelta(days=31)


class MaintenanceError(DomainError):
    """A maintenance window was refused."""


def in_maintenance(device_id: int, at: datetime) -> bool:
    return (
        db.session.scalar(
            select(MaintenanceWindow.id)
            .where(
                MaintenanceWindow.device_id == device_id,
                MaintenanceWindow.starts_at <= at,
                MaintenanceWindow.ends_at > at,
            )
            .limit(1)
        )
        is not None
    )


def owned_devices(user: User) -> list[Device]:
    """The devices a window may be set on: the company's own."""
    return list(
        db.session.scalars(
            select(Device)
            .where(Device.owner_company_id == user.company_id)
            .order_by(Device.name, Device.serial)
        )
    )


def maintenance_windows(user: User, now: datetime) -> list[MaintenanceWindow]:
    """Windows of the company's devices that have not ended yet, soonest first."""
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.company_id == user.company_id, MaintenanceWindow.ends_at > now)
            .order_by(MaintenanceWindow.starts_at)
        )
    )


def add_maintenance(
    user: User, device_id: int, starts_at: datetime, ends_at: datetime, note: str, *, now: datetime
) -> MaintenanceWindow:
    device = access.owned_device(user, device_id)
    if ends_at <= starts_at:
        raise MaintenanceError("The window must end after it starts.", "ends_at")
    if ends_at <= now:
        raise MaintenanceError("This window is already over.", "ends_at")
    if ends_at - starts_at > MAX_WINDOW:
        raise MaintenanceError("A maintenance window lasts at most 31 days.", "ends_at")
    window = MaintenanceWindow(
        device_id=device.id,
        company_id=user.company_id,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip()[:200],
        created_by_user_id=user.id,
        created_at=now,
    )
    db.session.add(window)
    db.session.flush()
    return window


def delete_maintenance(user: User, window_id: int) -> None:
    window = access.company_row(user, MaintenanceWindow, window_id, message="No such maintenance window in your account.")
    db.session.delete(window)
    db.session.flush()
