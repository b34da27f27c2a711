"""The one fan-out: an alert becomes outbox deliveries for every enabled policy of the company that wants it.

Each address is mailed once per alert, unless it unsubscribed from the scope it would be mailed under;
Slack, Teams and webhooks only when the caller allows chat routing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationDelivery, NotificationPolicy
from portal.services.alerts.channels import Alert, email_content, payload_for
from portal.services.alerts.event_types import policy_match_key
from portal.services.alerts.policies import ensure_default_policy
from portal.services.alerts.unsubscribe import is_unsubscribed, unsubscribe_url
from portal.services.outbox.queue import enqueue
from portal.services.outbox.signing import new_message_id

EmailFor = Callable[[str], dict]  # unsubscribe URL -> {"subject", "text", optional "html"}


def fan_out(
    company_id: int,
    alert: Alert,
    *,
    now: datetime,
    chat_allowed: bool = True,
    event_id: int | None = None,
    extra_emails: Iterable[str] = (),
    email_for: EmailFor | None = None,
) -> list[NotificationDelivery]:
    """Deliveries for every enabled policy of the company that wants this event type and severity.

    ``extra_emails`` (renewal notices to the admins) are mailed once each under the ``renewals``
    scope, with the policies' recipients; ``email_for`` renders a message other than the alert email.
    """
    ensure_default_policy(company_id, now)
    render = email_for or (lambda url: email_content(alert, url))
    rows: list[NotificationDelivery] = []
    emailed: set[str] = set()

    def email(address: str, scope: str, policy_id: int | None = None) -> None:
        """Queue one email per address per alert, unless that address unsubscribed from this scope."""
        if address in emailed or is_unsubscribed(company_id, scope, address):
            return
        emailed.add(address)
        content = render(unsubscribe_url(address, company_id, scope))
        rows.append(
            enqueue(
                company_id,
                "email",
                address,
                content["subject"],
                {part: content[part] for part in ("text", "html") if part in content},
                event_type=alert.event_type,
                now=now,
                policy_id=policy_id,
                device_id=alert.device_id,
                event_id=event_id,
            )
        )

    for address in extra_emails:
        email(address.lower(), "renewals")
    matching = db.session.scalars(
        select(NotificationPolicy)
        .where(NotificationPolicy.company_id == company_id, NotificationPolicy.enabled.is_(True))
        .order_by(NotificationPolicy.id)
    )
    wanted_type, wanted_severity = policy_match_key(alert.event_type, alert.severity)
    for policy in matching:
        if wanted_type not in policy.event_types or wanted_severity not in policy.severities:
            continue
        for address in policy.email_recipients:
            email(address, f"policy:{policy.id}", policy.id)
        if not chat_allowed:
            continue
        for channel, url in (
            ("slack", policy.slack_webhook_url),
            ("teams", policy.teams_webhook_url),
            ("webhook", policy.webhook_url),
        ):
            if url:
                message_id = new_message_id()  # in the body too, where the channel shows no header
                rows.append(
                    enqueue(
                        company_id,
                        channel,
                        url,
                        alert.title,
                        payload_for(channel, alert, message_id),
                        event_type=alert.event_type,
                        now=now,
                        policy_id=policy.id,
                        device_id=alert.device_id,
                        event_id=event_id,
                        message_id=message_id,
                    )
                )
    db.session.flush()
    return rows
