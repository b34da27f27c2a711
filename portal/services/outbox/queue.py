"""The durable delivery queue: messages are added in the caller's transaction, then claimed, sent,
retried with exponential backoff and logged by ``flask notify``.

A row says how and where (channel, target, subject, payload) and carries the caller's labels
(``event_type``, policy, device, event) for the log; why it is sent is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Company, NotificationDelivery
from portal.services.errors import DomainError
from portal.services.outbox.signing import new_message_id
from portal.services.outbox.transports import DeliveryError, send

MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 30
LEASE = timedelta(minutes=2)  # a worker that dies mid-send leaves the row due again after this
DELIVERY_NOT_FOUND = "No such delivery in your account."
STATUSES = ("pending", "sent", "failed")


class ResendRefused(DomainError):
    """A delivery may not be sent again."""


def enqueue(
    company_id: int,
    channel: str,
    target: str,
    subject: str,
    payload: dict,
    *,
    event_type: str,
    now: datetime,
    confidential: bool = False,
    policy_id: int | None = None,
    device_id: int | None = None,
    event_id: int | None = None,
    message_id: str | None = None,
) -> NotificationDelivery:
    """A pending delivery in the caller's transaction; ``confidential`` bodies are erased once delivered.

    ``message_id`` is the id receivers see; a caller that put it in the payload passes the same one.
    """
    row = NotificationDelivery(
        message_id=message_id or new_message_id(),
        company_id=company_id,
        policy_id=policy_id,
        device_id=device_id,
        event_id=event_id,
        event_type=event_type,
        channel=channel,
        target=target,
        subject=subject[:300],
        payload={**payload, "confidential": True} if confidential else payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    db.session.add(row)
    return row


# ---------------------------------------------------------------- the log


def company_log(company_id: int, *, limit: int = 50, status: str | None = None) -> list[NotificationDelivery]:
    """The company's newest deliveries, optionally of one status."""
    query = select(NotificationDelivery).where(NotificationDelivery.company_id == company_id)
    if status in STATUSES:
        query = query.where(NotificationDelivery.status == status)
    return list(db.session.scalars(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


def resend(old: NotificationDelivery, *, now: datetime) -> NotificationDelivery:
    """A new delivery of the same message; the old row stays in the log as it was."""
    if not old.can_resend:
        raise ResendRefused(
            "This message carried a code, and its text is not kept once delivered, so it cannot be sent again."
        )
    row = enqueue(
        old.company_id,
        old.channel,
        old.target,
        old.subject,
        old.payload,
        event_type=old.event_type,
        now=now,
        policy_id=old.policy_id,
        device_id=old.device_id,
        event_id=old.event_id,
        message_id=old.message_id,  # the same message: a receiver that already has it may drop it
    )
    row.resent_from_id = old.id
    db.session.flush()
    return row


# ---------------------------------------------------------------- delivering (the worker)


def backoff(attempts: int, base_s: float) -> timedelta:
    """30 s, 60 s, 120 s, 240 s... after the 1st, 2nd, 3rd, 4th failed attempt."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


def _claim(row_id: int, due: datetime, now: datetime) -> bool:
    """Take a due row for this worker; another worker that took it first wins."""
    result = db.session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == row_id,
            NotificationDelivery.status == "pending",
            NotificationDelivery.next_attempt_at == due,
        )
        .values(next_attempt_at=now + LEASE)
    )
    db.session.commit()
    return result.rowcount == 1


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    now: datetime,
    *,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_base_s: float = BACKOFF_BASE_S,
) -> DeliveryStats:
    """Send due deliveries, one commit per row; failures are retried with backoff up to max_attempts."""
    stats = DeliveryStats()
    due = db.session.execute(
        select(NotificationDelivery.id, NotificationDelivery.next_attempt_at)
        .where(NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= now)
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
    ).all()
    db.session.commit()
    for row_id, due_at in due:
        if not _claim(row_id, due_at, now):
            continue
        row = db.session.get(NotificationDelivery, row_id)
        try:
            send(
                row.channel,
                row.target,
                row.subject,
                row.payload,
                message_id=row.message_id,
                secret=db.session.get(Company, row.company_id).webhook_secret,
                company_id=row.company_id,
            )
        except DeliveryError as error:
            row.attempts += 1
            row.last_error = error.message[:500]
            if row.attempts >= max_attempts:
                row.status, row.next_attempt_at = "failed", None
                stats.failed += 1
            else:
                row.next_attempt_at = now + backoff(row.attempts, backoff_base_s)
                stats.retried += 1
        else:
            row.attempts += 1
            row.status, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, ""
            if row.confidential:
                row.payload = {"confidential": True}  # the code now lives only in the recipient's mailbox
            stats.sent += 1
        db.session.commit()
    return stats
