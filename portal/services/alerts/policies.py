"""Notification policies: which events and severities a company wants, sent to which addresses and webhooks.

A company that has none gets the default policy on first use: critical and warning events of every
type except thresholds, emailed to the account owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Company, NotificationDelivery, NotificationPolicy, User
from portal.services.accounts import access
from portal.services.accounts.users import company_created, normalize_email
from portal.services.alerts.event_types import EVENT_TYPES, SEVERITIES
from portal.services.errors import AccountError, DomainError
from portal.services.outbox.signing import new_secret
from portal.services.outbox.transports import WebhookAddressError, check_webhook_destination

DEFAULT_EVENT_TYPES = [k for k in EVENT_TYPES if not k.startswith("threshold_")]
DEFAULT_SEVERITIES = ["critical", "warning"]
DEFAULT_POLICY_NAME = "Email the account owner"
MAX_RECIPIENTS = 20
POLICY_NOT_FOUND = "No such notification policy in your account."


class NotificationError(DomainError):
    """A notification policy was refused."""


@dataclass(frozen=True)
class PolicyInput:
    name: str
    description: str
    event_types: list[str]
    severities: list[str]
    email_recipients: str  # as typed: commas, semicolons or new lines
    slack_webhook_url: str = ""
    teams_webhook_url: str = ""
    webhook_url: str = ""
    enabled: bool = True


def _owner(company_id: int) -> User | None:
    users = db.session.scalars(select(User).where(User.company_id == company_id).order_by(User.id)).all()
    admins = [u for u in users if u.is_admin]
    return (admins or users or [None])[0]


def ensure_default_policy(company_id: int, now: datetime) -> None:
    """A company that has no policy yet gets the default one: email the account owner."""
    exists = db.session.scalar(
        select(NotificationPolicy.id).where(NotificationPolicy.company_id == company_id).limit(1)
    )
    if exists is not None:
        return
    owner = _owner(company_id)
    db.session.add(
        NotificationPolicy(
            company_id=company_id,
            name=DEFAULT_POLICY_NAME,
            description="Critical and warning events of every device, emailed to the account owner.",
            event_types=list(DEFAULT_EVENT_TYPES),
            severities=list(DEFAULT_SEVERITIES),
            email_recipients=[owner.email] if owner else [],
            is_default=True,
            created_at=now,
            updated_at=now,
        )
    )
    db.session.flush()


def give_new_companies_the_default_policy() -> None:
    """Every company signed up from now on gets the default policy in the transaction that creates it."""
    company_created.connect(_default_policy_for_new_company)


def _default_policy_for_new_company(company: Company, *, now: datetime) -> None:
    ensure_default_policy(company.id, now)


def policies(user: User, now: datetime) -> list[NotificationPolicy]:
    """The company's policies, the default one first (a read: a company older than its default has none yet)."""
    return list(
        db.session.scalars(
            select(NotificationPolicy)
            .where(NotificationPolicy.company_id == user.company_id)
            .order_by(NotificationPolicy.is_default.desc(), NotificationPolicy.name, NotificationPolicy.id)
        )
    )


def policy_for(user: User, policy_id: int) -> NotificationPolicy:
    return access.company_row(user, NotificationPolicy, policy_id, message=POLICY_NOT_FOUND)


def _recipients(typed: str) -> list[str]:
    """The addresses as typed, each checked by the one email rule, lower-cased, without repeats."""
    recipients: list[str] = []
    for part in re.split(r"[,;\s]+", typed or ""):
        if not part.strip():
            continue
        try:
            address = normalize_email(part)
        except AccountError:
            raise NotificationError(
                f"“{part.strip()}” is not a valid email address.", "email_recipients"
            ) from None
        if address not in recipients:
            recipients.append(address)
    if len(recipients) > MAX_RECIPIENTS:
        raise NotificationError(f"At most {MAX_RECIPIENTS} email recipients per policy.", "email_recipients")
    return recipients


def _clean(data: PolicyInput) -> dict:
    name = data.name.strip()
    if not name:
        raise NotificationError("Give the policy a name.", "name")
    if len(name) > 120:
        raise NotificationError("Keep the name under 120 characters.", "name")
    types = [t for t in data.event_types if t in EVENT_TYPES]
    if not types:
        raise NotificationError("Choose at least one event.", "event_types")
    severities = [s for s in SEVERITIES if s in data.severities]
    if not severities:
        raise NotificationError("Choose at least one severity.", "severities")
    recipients = _recipients(data.email_recipients)
    urls = {}
    for field_name in ("slack_webhook_url", "teams_webhook_url", "webhook_url"):
        url = getattr(data, field_name).strip()
        if url:
            try:
                check_webhook_destination(url)  # checked again when sending: DNS may change in between
            except WebhookAddressError as error:
                raise NotificationError(error.message, field_name) from None
        urls[field_name] = url
    if not recipients and not any(urls.values()):
        raise NotificationError("Add at least one email recipient or webhook.", "email_recipients")
    return {
        "name": name,
        "description": data.description.strip()[:500],
        "event_types": types,
        "severities": severities,
        "email_recipients": recipients,
        "enabled": data.enabled,
        **urls,
    }


def create_policy(user: User, data: PolicyInput, *, now: datetime) -> NotificationPolicy:
    values = _clean(data)
    # The owner's default policy comes first, so adding a Slack route never silences the emails.
    ensure_default_policy(user.company_id, now)
    policy = NotificationPolicy(company_id=user.company_id, created_at=now, updated_at=now, **values)
    db.session.add(policy)
    db.session.flush()
    return policy


def update_policy(user: User, policy_id: int, data: PolicyInput, *, now: datetime) -> NotificationPolicy:
    policy = policy_for(user, policy_id)
    for key, value in _clean(data).items():
        setattr(policy, key, value)
    policy.updated_at = now
    db.session.flush()
    return policy


def delete_policy(user: User, policy_id: int) -> NotificationPolicy:
    """Delete a policy other than the default; its deliveries stay in the log without it."""
    policy = policy_for(user, policy_id)
    if policy.is_default:
        raise NotificationError("The default policy cannot be deleted; turn it off instead.")
    db.session.execute(
        update(NotificationDelivery).where(NotificationDelivery.policy_id == policy.id).values(policy_id=None)
    )
    db.session.delete(policy)
    db.session.flush()
    return policy


def webhook_secret(user: User) -> str:
    """The secret that signs the company's generic webhooks (Standard Webhooks, ``whsec_...``)."""
    return db.session.get(Company, user.company_id).webhook_secret


def rotate_webhook_secret(user: User) -> str:
    """A new signing secret for the company; webhooks sent from now on carry signatures made with it."""
    company = db.session.get(Company, user.company_id)
    company.webhook_secret = new_secret()
    db.session.flush()
    return company.webhook_secret
