"""Sharing a device with a partner or co-owner: invite by email, accept with a code, revoke either side.

The flow (see docs/sharing-and-partners.md):
- The owner enters an email address. A PENDING share is created with a random 8-character
  confirmation code; only the code's hash is stored. The code goes to the recipient by email, queued
  in the outbox in the same transaction (a confidential row: its body is erased once delivered).
- The recipient, signed in with that email address, enters the code: the share becomes ACTIVE and
  the recipient's company may act on the device (see access.py).
- Up to MAX_SHARES non-revoked shares per device. New shares need the Standard plan or higher;
  shares made before the device dropped to Basic stay.
- Either side revokes: REVOKED, with ended_at. A revoked share is never reopened; share again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.models import Device, DeviceShare, ShareStatus, User
from portal.services.accounts import access
from portal.services.accounts.users import normalize_email, user_by_email
from portal.services.errors import DomainError, LicensingError, NotFound
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import ALPHABET
from portal.services.licensing.plans import Feature
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue

MAX_SHARES = 5
CODE_LENGTH = 8
SHARE_NOT_FOUND = "No such share in your account."


class SharingError(DomainError):
    """A sharing rule refused: too many shares, already shared, wrong code, plan too low."""


@dataclass(frozen=True)
class SentShare:
    """A new share and its confirmation code in clear, kept only in the queued email until it is delivered."""

    share: DeviceShare
    code: str


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_share_code(text: str) -> str:
    """Upper case, no spaces or dashes: what the recipient typed, in the form codes are generated."""
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def format_share_code(code: str) -> str:
    """ABCD-EFGH: easier to read out and type."""
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


def new_share_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def live_shares(device: Device) -> list[DeviceShare]:
    """The device's pending and active shares, oldest first."""
    return list(
        db.session.scalars(
            select(DeviceShare)
            .where(DeviceShare.device_id == device.id, DeviceShare.status != ShareStatus.REVOKED)
            .order_by(DeviceShare.created_at, DeviceShare.id)
        )
    )


def share_device(
    owner: User, device: Device, email_text: str, *, today: date, now: datetime, accept_url: str
) -> SentShare:
    """A PENDING share of the device with the address, its code emailed (queued); only the owner shares."""
    if not access.is_owner(owner, device):
        raise NotFound(access.NOT_FOUND)
    email = normalize_email(email_text)
    try:
        entitlements.require_feature(device, Feature.SHARING, today)
    except LicensingError as error:
        raise SharingError(f"{error.message} Shares made before stay as they are.", field="email") from None
    recipient = user_by_email(email)
    if recipient is not None and recipient.company_id == owner.company_id:
        raise SharingError(
            "This address belongs to your own company, which already sees the device.", field="email"
        )
    shares = live_shares(device)
    if any(share.email == email for share in shares):
        raise SharingError("This device is already shared with this address.", field="email")
    if len(shares) >= MAX_SHARES:
        raise SharingError(
            f"A device can be shared with at most {MAX_SHARES} users. Revoke a share before adding another.",
            field="email",
        )
    code = new_share_code()
    share = DeviceShare(
        device_id=device.id,
        email=email,
        status=ShareStatus.PENDING,
        confirmation_code_hash=_hash(code),
        created_at=now,
    )
    db.session.add(share)
    enqueue(
        owner.company_id,
        "email",
        email,
        f"{owner.company.name} shared {device.model} {device.serial} with you on upsconnect",
        {
            "text": render_email(
                "email/share_invite.txt",
                owner=owner,
                device=device,
                code=format_share_code(code),
                link=accept_url,
            )
        },
        event_type="share_invite",
        now=now,
        device_id=device.id,
        confidential=True,  # the code opens the share to whoever holds the address's account
    )
    db.session.flush()
    return SentShare(share=share, code=code)


def accept_share(user: User, code_text: str, *, now: datetime) -> DeviceShare:
    """The pending share addressed to this user's email that the code opens, now ACTIVE."""
    code = normalize_share_code(code_text)
    if not code:
        raise SharingError("Enter the confirmation code from the sharing email.", field="code")
    pending = db.session.scalars(
        select(DeviceShare)
        .where(func.lower(DeviceShare.email) == user.email.lower(), DeviceShare.status == ShareStatus.PENDING)
        .order_by(DeviceShare.id)
    ).all()
    if not pending:
        raise SharingError(
            f"No device is waiting to be shared with {user.email}. Ask the owner to share it with this address.",
            field="code",
        )
    digest = _hash(code)
    share = next((row for row in pending if hmac.compare_digest(row.confirmation_code_hash, digest)), None)
    if share is None:
        raise SharingError(
            "This confirmation code does not match a device shared with you. Check the sharing email.",
            field="code",
        )
    device = share.device
    if device.owner_company_id is None:
        raise SharingError(
            "The owner removed this device from their account, so it can no longer be shared.", field="code"
        )
    if device.owner_company_id == user.company_id:
        raise SharingError("Your company owns this device already.", field="code")
    share.status = ShareStatus.ACTIVE
    share.recipient_user_id = user.id
    share.recipient_company_id = user.company_id
    db.session.flush()
    return share


def revoke_as_owner(owner: User, device: Device, share_id: int, *, now: datetime) -> DeviceShare:
    """The owner ends a pending or active share of its device."""
    share = access.row_for(
        DeviceShare,
        share_id,
        allowed=lambda share: share.device_id == device.id and access.is_owner(owner, device),
        message=SHARE_NOT_FOUND,
    )
    return _revoke(share, now)


def revoke_as_recipient(user: User, share_id: int, *, now: datetime) -> DeviceShare:
    """The recipient ends an active share with its company, or declines one addressed to its email."""
    share = access.row_for(DeviceShare, share_id, allowed=lambda share: _is_recipient(user, share), message=SHARE_NOT_FOUND)
    return _revoke(share, now)


def _is_recipient(user: User, share: DeviceShare) -> bool:
    if share.status == ShareStatus.ACTIVE:
        return share.recipient_company_id == user.company_id
    if share.status == ShareStatus.PENDING:
        return share.email.lower() == user.email.lower()
    return False


def _revoke(share: DeviceShare, now: datetime) -> DeviceShare:
    if share.status == ShareStatus.REVOKED:
        raise SharingError("This share has already ended.")
    share.status = ShareStatus.REVOKED
    share.ended_at = now
    db.session.flush()
    return share


def end_all_shares(device: Device, *, now: datetime) -> list[DeviceShare]:
    """Every pending and active share of the device ends at once (its ownership changed); returns them."""
    return [_revoke(share, now) for share in live_shares(device)]


def incoming_shares(user: User) -> tuple[list[DeviceShare], list[DeviceShare]]:
    """(pending shares addressed to the user's email, active shares with the user's company)."""
    rows = db.session.scalars(
        select(DeviceShare)
        .join(Device, Device.id == DeviceShare.device_id)
        .where(
            Device.owner_company_id.is_not(None),
            or_(
                (DeviceShare.status == ShareStatus.PENDING)
                & (func.lower(DeviceShare.email) == user.email.lower()),
                (DeviceShare.status == ShareStatus.ACTIVE)
                & (DeviceShare.recipient_company_id == user.company_id),
            ),
        )
        .order_by(DeviceShare.created_at, DeviceShare.id)
    ).all()
    return [r for r in rows if r.status == ShareStatus.PENDING], [
        r for r in rows if r.status == ShareStatus.ACTIVE
    ]


def device_for_owner(user: User, device_id: int) -> Device:
    """The device if the user's company owns it; NotFound otherwise (recipients do not manage shares)."""
    return access.owned_device(user, device_id)
