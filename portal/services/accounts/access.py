"""Who may see and act on a device: its owning company, and companies it was shared with."""

from __future__ import annotations

from sqlalchemy import Select, exists, or_, select

from portal.extensions import db
from portal.models import Device, DeviceShare, ShareStatus, User
from portal.services.errors import NotFound

NOT_FOUND = "No such device in your account."


def _shared_with(company_id: int):
    return exists().where(
        DeviceShare.device_id == Device.id,
        DeviceShare.recipient_company_id == company_id,
        DeviceShare.status == ShareStatus.ACTIVE,
    )


def visible_devices(user: User) -> Select[tuple[Device]]:
    """A query of every device the user's company owns or has been shared."""
    return select(Device).where(or_(Device.owner_company_id == user.company_id, _shared_with(user.company_id)))


def shared_devices(user: User) -> Select[tuple[Device]]:
    """Devices other companies shared with the user's company ("Shared With Me")."""
    return select(Device).where(Device.owner_company_id.is_not(None), _shared_with(user.company_id))


def may_act_on(user: User, device: Device) -> bool:
    if device.owner_company_id is None:
        return False
    if device.owner_company_id == user.company_id:
        return True
    share = select(DeviceShare.id).where(
        DeviceShare.device_id == device.id,
        DeviceShare.recipient_company_id == user.company_id,
        DeviceShare.status == ShareStatus.ACTIVE,
    )
    return db.session.scalar(share.limit(1)) is not None


def is_owner(user: User, device: Device) -> bool:
    return device.owner_company_id is not None and device.owner_company_id == user.company_id


def device_for(user: User, device_id: int) -> Device:
    """The device if this user may act on it; NotFound otherwise, so guessing ids reveals nothing."""
    device = db.session.get(Device, device_id)
    if device is None or not may_act_on(user, device):
        raise NotFound(NOT_FOUND)
    return device
