"""Handing a device to another company: the owner offers, the receiving company accepts, declines or lets it lapse.

The rules (docs/ownership-transfer.md):
- An administrator of the owning company offers the device to the email address of a user of another
  company, with an optional note. One live offer per device; it lapses after OFFER_DAYS on the lab clock.
- The addressed user, or an administrator of that user's company, accepts or declines; the sender's
  company (administrators) may cancel while it is pending. Anyone else gets "not found".
- Accepting is one transaction: the device's owner changes with a conditional UPDATE (so a double
  submit or two tabs move it once), every share ends, commands still open are closed, the old owner's
  future maintenance windows go, and the device's labels (the old owner's words) are cleared. Entitlements,
  subscription segments, the trial date, telemetry, events and the battery logbook stay with the serial:
  nothing is re-created and no trial is granted.
- The transfer row is the audit entry: both companies read who offered, who answered, when, from and to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from portal.extensions import db
from portal.models import Device, DeviceCommand, MaintenanceWindow, OwnershipTransfer, TransferStatus, User
from portal.services.accounts import access
from portal.services.accounts.users import normalize_email, user_by_email
from portal.services.errors import DomainError
from portal.services.fleet.commands import OPEN_STATUSES
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue
from portal.services.partners import sharing

OFFER_DAYS = 14
MAX_NOTE = 500
HISTORY_LIMIT = 50
TRANSFER_NOT_FOUND = "No such transfer offer for your account."
COMMAND_CLOSED = "Not followed any more: the device moved to another company before it answered."


class TransferError(DomainError):
    """A transfer rule refused: unknown or own address, an offer already waiting, an answered or lapsed offer."""


class NotAdministrator(DomainError):
    """Only a company administrator may offer or cancel a transfer."""


@dataclass(frozen=True)
class Answer:
    """What an accept, decline or cancel did: ``changed`` is False when it had already happened (a double submit)."""

    transfer: OwnershipTransfer
    changed: bool


def effective_status(transfer: OwnershipTransfer, now: datetime) -> TransferStatus:
    """The stored status, except that a pending offer past its expiry reads as expired (a GET never writes)."""
    if transfer.status == TransferStatus.PENDING and transfer.expires_at <= now:
        return TransferStatus.EXPIRED
    return transfer.status


def _is_live(transfer: OwnershipTransfer, now: datetime) -> bool:
    """Pending, not lapsed, and the sender still owns the device (an owner who removed it ended the offer)."""
    return (
        effective_status(transfer, now) == TransferStatus.PENDING
        and transfer.device.owner_company_id == transfer.from_company_id
    )


def _require_admin(user: User, what: str) -> None:
    if not user.is_admin:
        raise NotAdministrator(f"Only an administrator of {user.company.name} can {what}.")


def device_to_transfer(user: User, device_id: int) -> Device:
    """The device if the user's company owns it (NotFound otherwise) and the user is one of its administrators."""
    device = access.owned_device(user, device_id)
    _require_admin(user, "transfer a device to another company")
    return device


def live_offer(device: Device, now: datetime) -> OwnershipTransfer | None:
    """The device's offer still waiting for an answer, if any."""
    rows = db.session.scalars(
        select(OwnershipTransfer)
        .where(OwnershipTransfer.device_id == device.id, OwnershipTransfer.status == TransferStatus.PENDING)
        .order_by(OwnershipTransfer.id.desc())
    )
    return next((row for row in rows if _is_live(row, now)), None)


def offer_transfer(
    user: User, device: Device, email_text: str, note: str, *, now: datetime, inbox_url: str
) -> OwnershipTransfer:
    """A pending offer of the device to the company of the user with this address; that user is emailed (queued)."""
    device = device_to_transfer(user, device.id)
    email = normalize_email(email_text)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise TransferError(f"Keep the note to {MAX_NOTE} characters.", field="note")
    recipient = user_by_email(email)
    if recipient is None:
        raise TransferError(
            f"No upsconnect account uses {email}. The receiving company needs an account: ask them to sign up "
            "(or give you the address they sign in with), then offer the transfer again.",
            field="email",
        )
    if recipient.company_id == user.company_id:
        raise TransferError(
            f"{email} belongs to your own company, which owns this device already. "
            "Enter the address of a user of the receiving company.",
            field="email",
        )
    if device.bridge_id is not None:
        raise TransferError(
            "This UPS is reported by your NUT bridge, so it stays with your company. "
            "Move the UPS to the receiving company's bridge instead; they then register it from their Bridges page.",
            field="email",
        )
    waiting = live_offer(device, now)
    if waiting is not None:
        raise TransferError(
            f"This device is already offered to {waiting.to_company.name} ({waiting.to_email}) until "
            f"{waiting.expires_at:%d %b %Y}. Cancel that offer first.",
            field="email",
        )
    _store_lapsed(device, now)
    transfer = OwnershipTransfer(
        device_id=device.id, serial=device.serial, model=device.model, from_company_id=user.company_id,
        to_company_id=recipient.company_id, to_email=email, note=note, status=TransferStatus.PENDING,
        offered_by_user_id=user.id, created_at=now, expires_at=now + timedelta(days=OFFER_DAYS),
    )
    db.session.add(transfer)
    db.session.flush()
    enqueue(
        user.company_id, "email", email,
        f"{user.company.name} wants to transfer {device.model} {device.serial} to {recipient.company.name}",
        {"text": render_email("email/transfer_offer.txt", transfer=transfer, sender=user, device=device,
                              recipient=recipient, link=inbox_url)},
        event_type="transfer_offer", now=now, device_id=device.id,
    )
    return transfer


def _store_lapsed(device: Device, now: datetime) -> None:
    """Offers of the device that ran out are stored as expired, so the record reads the same as the pages."""
    db.session.execute(
        update(OwnershipTransfer)
        .where(
            OwnershipTransfer.device_id == device.id,
            OwnershipTransfer.status == TransferStatus.PENDING,
            OwnershipTransfer.expires_at <= now,
        )
        .values(status=TransferStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )


def _may_answer(user: User, transfer: OwnershipTransfer) -> bool:
    """The addressed user, or an administrator of the receiving company."""
    if transfer.to_company_id != user.company_id:
        return False
    return user.email.lower() == transfer.to_email or user.is_admin


def _may_cancel(user: User, transfer: OwnershipTransfer) -> bool:
    return transfer.from_company_id == user.company_id


def _refusal(transfer: OwnershipTransfer, now: datetime) -> TransferError:
    """Why an offer that is no longer live cannot be answered, in the words of what happened to it."""
    status = effective_status(transfer, now)
    when = f"{transfer.decided_at:%d %b %Y}" if transfer.decided_at else ""
    words = {
        TransferStatus.ACCEPTED: f"This offer was accepted on {when}.",
        TransferStatus.DECLINED: f"This offer was declined on {when}.",
        TransferStatus.CANCELLED: f"{transfer.from_company.name} cancelled this offer on {when}.",
        TransferStatus.EXPIRED: f"This offer expired on {transfer.expires_at:%d %b %Y}. Ask the owner to offer it again.",
    }
    if status in words:
        return TransferError(words[status])
    return TransferError(
        f"{transfer.from_company.name} no longer owns {transfer.serial}, so this offer has ended."
    )


def _claim_answer(transfer: OwnershipTransfer, status: TransferStatus, user: User, now: datetime) -> bool:
    """Move the offer from pending to `status` once: a conditional UPDATE, so two submits cannot both win."""
    result = db.session.execute(
        update(OwnershipTransfer)
        .where(
            OwnershipTransfer.id == transfer.id,
            OwnershipTransfer.status == TransferStatus.PENDING,
            OwnershipTransfer.expires_at > now,
        )
        .values(status=status, decided_by_user_id=user.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(transfer)
    return result.rowcount == 1


def accept(user: User, transfer_id: int, *, now: datetime, sender_url: str) -> Answer:
    """The receiving company becomes the device's owner; shares end; licenses, timeline and history stay."""
    transfer = access.row_for(OwnershipTransfer, transfer_id, allowed=lambda t: _may_answer(user, t),
                              message=TRANSFER_NOT_FOUND)
    if transfer.status == TransferStatus.ACCEPTED:
        return Answer(transfer, changed=False)  # a double submit: it happened once, nothing more to do
    if not _is_live(transfer, now):
        raise _refusal(transfer, now)
    if not _claim_answer(transfer, TransferStatus.ACCEPTED, user, now):
        if transfer.status == TransferStatus.ACCEPTED:
            return Answer(transfer, changed=False)
        raise _refusal(transfer, now)
    device = transfer.device
    moved = db.session.execute(
        update(Device)
        .where(Device.id == device.id, Device.owner_company_id == transfer.from_company_id)
        .values(owner_company_id=transfer.to_company_id, claimed_at=now, name="", site="", location="")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise _refusal(transfer, now)  # the owner removed it in between; the view rolls the answer back
    db.session.refresh(device)
    sharing.end_all_shares(device, now=now)
    db.session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.device_id == device.id, DeviceCommand.status.in_(OPEN_STATUSES))
        .values(status="failed", message=COMMAND_CLOSED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(MaintenanceWindow)
        .where(
            MaintenanceWindow.device_id == device.id,
            MaintenanceWindow.company_id == transfer.from_company_id,
            MaintenanceWindow.ends_at > now,
        )
        .execution_options(synchronize_session=False)
    )
    _tell_sender(transfer, "accepted", now=now, link=sender_url)
    db.session.flush()
    return Answer(transfer, changed=True)


def decline(user: User, transfer_id: int, *, now: datetime, sender_url: str) -> Answer:
    """The receiving company says no; nothing else changes."""
    transfer = access.row_for(OwnershipTransfer, transfer_id, allowed=lambda t: _may_answer(user, t),
                              message=TRANSFER_NOT_FOUND)
    if transfer.status == TransferStatus.DECLINED:
        return Answer(transfer, changed=False)
    if not _is_live(transfer, now) or not _claim_answer(transfer, TransferStatus.DECLINED, user, now):
        if transfer.status == TransferStatus.DECLINED:
            return Answer(transfer, changed=False)
        raise _refusal(transfer, now)
    _tell_sender(transfer, "declined", now=now, link=sender_url)
    db.session.flush()
    return Answer(transfer, changed=True)


def cancel(user: User, transfer_id: int, *, now: datetime) -> Answer:
    """The sender's company withdraws a pending offer; nothing else changes."""
    transfer = access.row_for(OwnershipTransfer, transfer_id, allowed=lambda t: _may_cancel(user, t),
                              message=TRANSFER_NOT_FOUND)
    _require_admin(user, "cancel a transfer offer")
    if transfer.status == TransferStatus.CANCELLED:
        return Answer(transfer, changed=False)
    if effective_status(transfer, now) != TransferStatus.PENDING or not _claim_answer(
        transfer, TransferStatus.CANCELLED, user, now
    ):
        if transfer.status == TransferStatus.CANCELLED:
            return Answer(transfer, changed=False)
        raise _refusal(transfer, now)
    db.session.flush()
    return Answer(transfer, changed=True)


def _tell_sender(transfer: OwnershipTransfer, what: str, *, now: datetime, link: str) -> None:
    enqueue(
        transfer.from_company_id, "email", transfer.offered_by.email,
        f"{transfer.to_company.name} {what} the transfer of {transfer.model} {transfer.serial}",
        {"text": render_email("email/transfer_answer.txt", transfer=transfer, what=what, link=link)},
        event_type="transfer_answer", now=now, device_id=transfer.device_id,
    )


@dataclass(frozen=True)
class Inbox:
    """What /transfers shows a user: offers to answer, offers sent, and the record of answered ones."""

    incoming: list[OwnershipTransfer]
    outgoing: list[OwnershipTransfer]
    history: list[OwnershipTransfer]


def inbox(user: User, now: datetime) -> Inbox:
    """Offers the user may answer, offers the company sent, and the record of every answered one. Reads only.

    A pending offer to the company shows only to the addressed user and the company's administrators; the
    record (answered, cancelled, lapsed offers) to every user of either company.
    """
    rows = db.session.scalars(
        select(OwnershipTransfer)
        .where(or_(OwnershipTransfer.from_company_id == user.company_id,
                   OwnershipTransfer.to_company_id == user.company_id))
        .order_by(OwnershipTransfer.created_at.desc(), OwnershipTransfer.id.desc())
    ).all()
    live = [row for row in rows if _is_live(row, now)]
    return Inbox(
        incoming=[row for row in live if _may_answer(user, row)],
        outgoing=[row for row in live if _may_cancel(user, row)],
        history=[row for row in rows if row not in live][:HISTORY_LIMIT],
    )


def status_words(transfer: OwnershipTransfer, now: datetime) -> str:
    """One word for the record: Accepted, Declined, Cancelled, Expired, Ended (the owner removed the device), Waiting."""
    status = effective_status(transfer, now)
    if status == TransferStatus.PENDING:
        return "Waiting" if _is_live(transfer, now) else "Ended"
    return status.value.title()
