"""Registering a device to a company: claim by serial and the code on its LCD, and removal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from devicelink.contract import is_valid_serial
from devicelink.provisioning import verify_claim_code
from portal.extensions import db
from portal.models import Device, DeviceShare, ShareStatus, User
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound
from portal.services.licensing import entitlements
from portal.services.licensing.subscription_timeline import Standing


class ClaimError(DomainError):
    """A claim was refused: unknown serial, wrong code, or owned by someone else."""


@dataclass(frozen=True)
class Claim:
    device: Device
    trial_granted: bool
    standing: Standing | None = None  # where the device stands on the claim day

    @property
    def plan_words(self) -> str:
        """What the new owner should know about the plan: a trial started, still running, or none left."""
        if self.trial_granted:
            return "Its 6-month Standard trial has started."
        standing = self.standing
        if standing is not None and standing.current is not None:
            until = standing.current.end.strftime("%d %b %Y")
            if standing.on_trial:
                return f"Its Standard trial from an earlier registration continues until {until}."
            return f"Its {standing.plan.display_name} plan continues until {until}."
        return "This serial had its trial before, so it starts on the Basic plan."


def normalize_serial(text: str) -> str:
    return "".join((text or "").split()).upper()


def claim_device(user: User, serial_text: str, code: str, *, factory_key: bytes, today: date, now: datetime) -> Claim:
    """Make the user's company the device's owner; the first registration of a serial starts its trial."""
    serial = normalize_serial(serial_text)
    if not serial:
        raise ClaimError("Enter the serial number printed on the device's label or shown on its display.", field="serial")
    if not is_valid_serial(serial):
        raise ClaimError(f"{serial_text.strip()} is not a Smart-UPS serial number: use its letters and digits only.", field="serial")
    if not (code or "").strip():
        raise ClaimError("Enter the registration code shown on the device's display.", field="code")
    device = db.session.scalar(select(Device).where(Device.serial == serial))
    if device is None:
        raise ClaimError(
            f"No device with serial {serial} has connected to upsconnect yet. Check that its network port is "
            "connected, wait for the registration code to appear on its display, and try again.",
            field="serial",
        )
    if not verify_claim_code(factory_key, serial, code):
        raise ClaimError("The registration code does not match the one on the device's display.", field="code")
    if device.owner_company_id == user.company_id:
        raise ClaimError(f"{serial} is already registered to your company.", field="serial")
    if device.owner_company_id is not None:
        raise ClaimError(
            f"{serial} is registered to another account. Its owner must remove it before it can be registered again.",
            field="serial",
        )
    device.owner_company_id = user.company_id
    device.claimed_at = now
    trial_granted = entitlements.start_trial(device, today=today, now=now)
    db.session.flush()
    return Claim(device, trial_granted, entitlements.device_standing(device, today))


def remove_device(user: User, device: Device, *, now: datetime) -> None:
    """The owner gives a device up: it leaves the account and its shares end; its history is kept."""
    if not access.is_owner(user, device):
        raise NotFound(access.NOT_FOUND)
    db.session.execute(
        update(DeviceShare)
        .where(DeviceShare.device_id == device.id, DeviceShare.status != ShareStatus.REVOKED)
        .values(status=ShareStatus.REVOKED, ended_at=now)
    )
    device.owner_company_id = None
    device.claimed_at = None
    device.name = ""
    device.site = ""
    db.session.flush()
