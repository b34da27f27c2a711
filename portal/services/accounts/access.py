"""Who may see and act on a device: its owning company, and companies it was shared with."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Select, or_, select

from portal.extensions import db
from portal.models import Device, DeviceShare, ShareStatus, User
from portal.services.errors import NotFound

NOT_FOUND = "No such device in your account."
# The largest PostgreSQL integer: a larger id names no row, so it is "not found" rather than a database error.
MAX_ID = 2**31 - 1
Row = TypeVar("Row")


def parse_id(raw: object) -> int | None:
    """An id typed in a URL, form or query, or None when it cannot name a row (not ASCII digits, 0, too large)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def row_for(model: type[Row], row_id: int | str, *, allowed: Callable[[Row], bool], message: str) -> Row:
    """The one tenancy-checked lookup: the row if `allowed(row)`; NotFound otherwise, so guessing ids reveals nothing."""
    if isinstance(row_id, int) and not 0 < row_id <= MAX_ID:
        raise NotFound(message)
    row = db.session.get(model, row_id)
    if row is None or not allowed(row):
        raise NotFound(message)
    return row


def company_row(user: User, model: type[Row], row_id: int, *, message: str) -> Row:
    """A row that belongs to one company (its `company_id`), if it is the user's company."""
    return row_for(model, row_id, allowed=lambda row: row.company_id == user.company_id, message=message)


def _active_shares_to(company_id: int) -> Select[tuple[int]]:
    """The devices shared with the company now (its active shares), as a query of device ids."""
    return select(DeviceShare.device_id).where(
        DeviceShare.recipient_company_id == company_id, DeviceShare.status == ShareStatus.ACTIVE
    )


def _shared_with(company_id: int):
    # An uncorrelated IN: read once per query (not once per device, as a correlated EXISTS is), and
    # "owner OR IN" can use the owner index for its first half.
    return Device.id.in_(_active_shares_to(company_id))


def _has_active_incoming_shares(company_id: int) -> bool:
    return db.session.scalar(_active_shares_to(company_id).limit(1)) is not None


def visible_devices(user: User) -> Select[tuple[Device]]:
    """A query of every device the user's company owns or has been shared.

    A company nobody shares with (most customers) gets the owner condition alone: the ``devices``
    indexes that start with the owner then serve each filter and sort, and a page is read off one in
    order instead of sorting every device ("owner OR shared" can use no index for the order).
    """
    owned = Device.owner_company_id == user.company_id
    if not _has_active_incoming_shares(user.company_id):
        return select(Device).where(owned)
    return select(Device).where(or_(owned, _shared_with(user.company_id)))


def shared_devices(user: User) -> Select[tuple[Device]]:
    """Devices other companies shared with the user's company ("Shared With Me")."""
    return select(Device).where(Device.owner_company_id.is_not(None), _shared_with(user.company_id))


def may_act_on(user: User, device: Device) -> bool:
    if device.owner_company_id is None:
        return False
    if device.owner_company_id == user.company_id:
        return True
    share = _active_shares_to(user.company_id).where(DeviceShare.device_id == device.id)
    return db.session.scalar(share.limit(1)) is not None


def is_owner(user: User, device: Device) -> bool:
    return device.owner_company_id is not None and device.owner_company_id == user.company_id


def device_for(user: User, device_id: int) -> Device:
    """The device if this user may act on it; NotFound otherwise, so guessing ids reveals nothing."""
    return row_for(Device, device_id, allowed=lambda device: may_act_on(user, device), message=NOT_FOUND)


def owned_device(user: User, device_id: int) -> Device:
    """The device if the user's company owns it (sharing, maintenance windows); NotFound otherwise."""
    return row_for(Device, device_id, allowed=lambda device: is_owner(user, device), message=NOT_FOUND)


def company_addresses(user: User) -> set[str]:
    """The email addresses of the user's company, lower-cased."""
    return {email.lower() for email in db.session.scalars(select(User.email).where(User.company_id == user.company_id))}
