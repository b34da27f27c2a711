"""The durable delivery queue: messages are added in the caller's transaction, then claimed, sent,
retried with exponential backoff and logged by ``flask notify``.

A row says how and where (channel, target, subject, payload) and carries the caller's labels
(``event_type``, policy, device, event) for the log; why it is sent is the caller's business.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Company, NotificationDelivery
from portal.services.errors import DomainError
from portal.services.outbox.signing import new_message_id
from portal.services.outbox.transports import DeliveryError, send

log = logging.getLogger("upsconnect.notify")

MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 30
MAX_BACKOFF_S = 3600
JITTER = 0.25  # each retry delay is stretched or shrunk by up to this fraction
# A worker that dies mid-send leaves the row due again after this; longer than the transports' timeouts.
LEASE = timedelta(minutes=2)
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


class WorkerStopping(BaseException):
    """Raised into a send by the worker's SIGTERM handler: not an Exception, so no delivery swallows it."""


def backoff(attempts: int, base_s: float) -> timedelta:
    """30 s, 60 s, 120 s, 240 s... after the 1st, 2nd, 3rd, 4th failed attempt, never more than an hour."""
    return timedelta(seconds=min(base_s * 2 ** max(0, attempts - 1), MAX_BACKOFF_S))


def jittered(delay: timedelta, rng: random.Random) -> timedelta:
    """The delay stretched or shrunk by up to a quarter, so rows that failed together are not retried together."""
    return delay * rng.uniform(1 - JITTER, 1 + JITTER)


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    redelivered: int = 0  # taken again after a worker died holding them (already counted in the above)


def _claim(row_id: int, due: datetime, now: datetime, lease: timedelta) -> bool:
    """Take a due row for this worker and start its next attempt; another worker that took it first wins."""
    result = db.session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == row_id,
            NotificationDelivery.status == "pending",
            NotificationDelivery.next_attempt_at == due,
        )
        .values(
            next_attempt_at=now + lease,
            claimed_at=now,
            attempts=NotificationDelivery.attempts + 1,
        )
    )
    db.session.commit()
    return result.rowcount == 1


def _label(row: NotificationDelivery) -> str:
    # never the target: an address is personal and a Slack or Teams URL is a secret
    return f"delivery {row.id} ({row.message_id}, {row.channel}, {row.event_type})"


def _give_up_or_retry(
    row: NotificationDelivery, reason: str, now: datetime, stats: DeliveryStats, *,
    max_attempts: int, backoff_base_s: float, rng: random.Random,
) -> None:  # fmt: skip
    row.last_error, row.claimed_at = reason[:500], None
    if row.attempts >= max_attempts:
        row.status, row.next_attempt_at = "failed", None
        stats.failed += 1
        log.warning("%s: gave up after %d attempts: %s", _label(row), row.attempts, reason)
    else:
        delay = jittered(backoff(row.attempts, backoff_base_s), rng)
        row.next_attempt_at = now + delay
        stats.retried += 1
        log.warning(
            "%s: attempt %d of %d failed, next in %.0f s: %s",
            _label(row), row.attempts, max_attempts, delay.total_seconds(), reason,
        )  # fmt: skip


def deliver_due(
    now: datetime,
    *,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_base_s: float = BACKOFF_BASE_S,
    lease: timedelta = LEASE,
    rng: random.Random | None = None,
    stopping: Callable[[], bool] = lambda: False,
    around_send: Callable[[], AbstractContextManager] = nullcontext,
) -> DeliveryStats:
    """Send due deliveries, one commit per row; any failure is retried with jittered backoff up to max_attempts.

    No single delivery can stop the pass: whatever a transport raises is recorded on its row as the
    reason, and the row is retried or given up like any refused delivery. ``around_send`` wraps each
    send only (the worker allows its SIGTERM to interrupt a send there, never a database call).
    """
    rng = rng or random.Random()
    stats = DeliveryStats()
    due = db.session.execute(
        select(NotificationDelivery.id, NotificationDelivery.next_attempt_at, NotificationDelivery.claimed_at)
        .where(NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= now)
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
    ).all()
    db.session.commit()
    for row_id, due_at, claimed_before in due:
        if stopping():
            break
        if not _claim(row_id, due_at, now, lease):
            continue
        row = db.session.get(NotificationDelivery, row_id)
        retry = dict(max_attempts=max_attempts, backoff_base_s=backoff_base_s, rng=rng)
        if claimed_before is not None:  # claimed before, never finished: that worker died mid-send
            stats.redelivered += 1
            log.warning("%s: re-delivery after lease expiry, attempt %d", _label(row), row.attempts)
            if row.attempts > max_attempts:
                row.attempts -= 1  # this attempt is not made
                _give_up_or_retry(row, "the worker stopped while sending it", now, stats, **retry)
                db.session.commit()
                continue
        secret = db.session.get(Company, row.company_id).webhook_secret
        try:
            with around_send():
                send(
                    row.channel,
                    row.target,
                    row.subject,
                    row.payload,
                    message_id=row.message_id,
                    secret=secret,
                    company_id=row.company_id,
                )
        except WorkerStopping:
            # stopped mid-send: due again at once for the next worker, which logs it as a re-delivery
            db.session.rollback()
            db.session.execute(
                update(NotificationDelivery).where(NotificationDelivery.id == row_id).values(next_attempt_at=now)
            )
            db.session.commit()
            raise
        except DeliveryError as error:
            _give_up_or_retry(row, error.message, now, stats, **retry)
        except Exception as error:  # a bug or an unforeseen library error: this row fails, the pass goes on
            log.exception("%s: unexpected error while sending", _label(row))
            _give_up_or_retry(row, f"Unexpected error: {type(error).__name__}: {error}", now, stats, **retry)
        else:
            row.status, row.sent_at, row.next_attempt_at, row.last_error, row.claimed_at = "sent", now, None, "", None
            if row.confidential:
                row.payload = {"confidential": True}  # the code now lives only in the recipient's mailbox
            stats.sent += 1
            log.info("%s: sent, attempt %d", _label(row), row.attempts)
        db.session.commit()
    return stats


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending_age_s: float  # 0 when nothing is pending
    failed: int


def backlog(now: datetime) -> Backlog:
    """How much is waiting in the outbox, and for how long: what an operator alerts on."""
    pending, oldest = db.session.execute(
        select(func.count(), func.min(NotificationDelivery.created_at)).where(NotificationDelivery.status == "pending")
    ).one()
    failed = db.session.scalar(
        select(func.count()).select_from(NotificationDelivery).where(NotificationDelivery.status == "failed")
    )
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(pending=pending, oldest_pending_age_s=age, failed=failed or 0)
