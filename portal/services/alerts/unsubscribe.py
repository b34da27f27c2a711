"""Unsubscribe links: a signed, non-expiring token of (email, company, scope) and the opt-outs it records.

A scope is ``policy:<id>``, ``renewals`` or ``reseller``; the signature is the proof, so no sign-in.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationPolicy, NotificationUnsubscribe
from portal.services.alerts.channels import public_url
from portal.services.errors import NotFound

UNSUBSCRIBE_SALT = "upsconnect.unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(email: str, company_id: int, scope: str) -> str:
    return _serializer().dumps({"e": email.lower(), "c": company_id, "s": scope})


def read_unsubscribe_token(token: str) -> tuple[str, int, str]:
    """(email, company id, scope) of a token the portal signed; NotFound for anything else."""
    try:
        data = _serializer().loads(token)
        return str(data["e"]), int(data["c"]), str(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("This unsubscribe link is not valid.") from None


def unsubscribe_url(email: str, company_id: int, scope: str) -> str:
    return public_url(f"/unsubscribe/{unsubscribe_token(email, company_id, scope)}")


def scope_label(company_id: int, scope: str) -> str:
    """What the address stops receiving, in words."""
    if scope.startswith("policy:"):
        policy = db.session.get(NotificationPolicy, int(scope.split(":", 1)[1]))
        return (
            f"alerts of the policy “{policy.name}”" if policy else "alerts of a policy that no longer exists"
        )
    return {"renewals": "renewal notices", "reseller": "Renewal Support lifecycle notices"}.get(scope, scope)


def unsubscribe(token: str, *, now: datetime) -> tuple[str, str]:
    """Record the opt-out the token names (once); (email, what it stops)."""
    email, company_id, scope = read_unsubscribe_token(token)
    if not is_unsubscribed(company_id, scope, email):
        db.session.add(
            NotificationUnsubscribe(company_id=company_id, scope=scope, email=email, created_at=now)
        )
        db.session.flush()
    return email, scope_label(company_id, scope)


def is_unsubscribed(company_id: int, scope: str, email: str) -> bool:
    return (
        db.session.scalar(
            select(NotificationUnsubscribe.id).where(
                NotificationUnsubscribe.company_id == company_id,
                NotificationUnsubscribe.scope == scope,
                NotificationUnsubscribe.email == email.lower(),
            )
        )
        is not None
    )
