"""The delivery log of the Notifications page: the company's outbox rows, and Re-send.

It shows channel, recipient, subject, status and the last error, never a message body.
"""

from __future__ import annotations

from datetime import datetime

from portal.models import NotificationDelivery, User
from portal.services.accounts import access
from portal.services.alerts.unsubscribe import is_unsubscribed
from portal.services.outbox import queue as outbox
from portal.services.outbox.queue import ResendRefused


def deliveries(user: User, *, limit: int = 50, status: str | None = None) -> list[NotificationDelivery]:
    return outbox.company_log(user.company_id, limit=limit, status=status)


def _unsubscribe_scope(row: NotificationDelivery) -> str | None:
    """The scope an email's unsubscribe link named; None for messages without one (codes, invitations)."""
    if row.channel != "email":
        return None
    if row.policy_id is not None:
        return f"policy:{row.policy_id}"
    return {
        "trial_ending": "renewals",
        "renewal_due": "renewals",
        "renewal_support_invite": "reseller",
    }.get(row.event_type)


def resend(user: User, delivery_id: int, *, now: datetime) -> NotificationDelivery:
    """Queue the message again, unless its address has unsubscribed from it since."""
    old = access.company_row(user, NotificationDelivery, delivery_id, message=outbox.DELIVERY_NOT_FOUND)
    scope = _unsubscribe_scope(old)
    if scope is not None and is_unsubscribed(old.company_id, scope, old.target):
        raise ResendRefused(f"{old.target} unsubscribed from these emails, so it was not sent again.")
    return outbox.resend(old, now=now)
