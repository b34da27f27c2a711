"""The Renewal Support invite email: queued in the outbox in the transaction that made the invite."""

from __future__ import annotations

from datetime import datetime

from portal.extensions import db
from portal.models import Company, NotificationDelivery, RenewalSupport
from portal.services.alerts.channels import public_url
from portal.services.alerts.unsubscribe import unsubscribe_url
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue


def queue_reseller_invite(support: RenewalSupport, token: str, *, now: datetime) -> NotificationDelivery:
    """The invite to the reseller's address, naming only the customer company."""
    customer = db.session.get(Company, support.customer_company_id)
    subject = f"{customer.name} invites you to Renewal Support on upsconnect"
    text = render_email(
        "email/reseller_invite.txt",
        customer=customer,
        link=public_url(f"/renewal-support/invite/{token}"),
        expires=support.expires_at.strftime("%d %b %Y"),
        unsubscribe_url=unsubscribe_url(support.reseller_email, customer.id, "reseller"),
    )
    return enqueue(
        customer.id,
        "email",
        support.reseller_email,
        subject,
        {"text": text},
        event_type="renewal_support_invite",
        now=now,
    )
