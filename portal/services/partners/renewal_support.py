"""Renewal Support: a customer's consent that its preferred reseller receives lifecycle notices.

The customer invites a reseller by email. The invite shows only the customer's company name and
expires after 7 days. The reseller accepts or declines (the customer sees which); either side can end
it at any time. A company has at most one pending or accepted invite at a time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.models import Company, RenewalSupport, User
from portal.services.accounts import access
from portal.services.accounts.users import normalize_email
from portal.services.errors import DomainError, NotFound

INVITE_VALID = timedelta(days=7)
NOT_FOUND = "No such Renewal Support invite."
STANDING = ("pending", "accepted")


class RenewalSupportError(DomainError):
    """A Renewal Support rule refused."""


@dataclass(frozen=True)
class SentInvite:
    support: RenewalSupport
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expire_invites(now: datetime) -> int:
    """Store "expired" on pending invites past their 7 days (run by `flask renewals` and by POSTs); returns how many.

    Reads never call this: they ask `status_of`, which already says "expired" for such an invite.
    """
    result = db.session.execute(
        update(RenewalSupport)
        .where(RenewalSupport.status == "pending", RenewalSupport.expires_at <= now)
        .values(status="expired", responded_at=now)
    )
    return result.rowcount or 0


def status_of(support: RenewalSupport, now: datetime) -> str:
    """The invite's status on `now`: a pending invite past its 7 days is expired, stored so or not yet."""
    if support.status == "pending" and support.expires_at <= now:
        return "expired"
    return support.status


def _standing(now: datetime):
    """SQL: accepted, or pending and still inside its 7 days (the SQL form of `status_of` in STANDING)."""
    return or_(
        RenewalSupport.status == "accepted",
        (RenewalSupport.status == "pending") & (RenewalSupport.expires_at > now),
    )


def current_for_customer(user: User, now: datetime) -> RenewalSupport | None:
    """The company's accepted Renewal Support or its invite still waiting for an answer."""
    return db.session.scalar(
        select(RenewalSupport)
        .where(RenewalSupport.customer_company_id == user.company_id, _standing(now))
        .order_by(RenewalSupport.id.desc())
        .limit(1)
    )


def history_for_customer(user: User, now: datetime) -> list[RenewalSupport]:
    """Earlier invites that ended one way or another (declined, expired, ended), newest first."""
    recent = db.session.scalars(
        select(RenewalSupport)
        .where(RenewalSupport.customer_company_id == user.company_id)
        .order_by(RenewalSupport.id.desc())
        .limit(20)
    )
    return [support for support in recent if status_of(support, now) not in STANDING]


def invite(user: User, email_text: str, *, now: datetime) -> SentInvite:
    if not user.is_admin:
        raise RenewalSupportError("Only an administrator of your company can invite a reseller.")
    email = normalize_email(email_text)
    expire_invites(now)
    if current_for_customer(user, now) is not None:
        raise RenewalSupportError(
            "Your company already has a reseller invited or accepted. End it first.", "email"
        )
    reseller_user = db.session.scalar(select(User).where(User.email == email))
    if reseller_user is not None and reseller_user.company_id == user.company_id:
        raise RenewalSupportError("Invite your reseller, not someone in your own company.", "email")
    token = secrets.token_urlsafe(24)
    support = RenewalSupport(
        customer_company_id=user.company_id,
        reseller_email=email,
        status="pending",
        token_hash=_hash(token),
        invited_by_user_id=user.id,
        created_at=now,
        expires_at=now + INVITE_VALID,
        ended_by="",
        end_note="",
    )
    db.session.add(support)
    db.session.flush()
    return SentInvite(support, token)


def invite_by_token(user: User, token: str) -> RenewalSupport:
    """The invitation a link names, for the reseller it was addressed to; NotFound for anyone else."""
    support = db.session.scalar(select(RenewalSupport).where(RenewalSupport.token_hash == _hash(token)))
    if support is None or support.reseller_email != user.email:
        raise NotFound("This Renewal Support link is not valid.")
    return support


def invites_for_reseller(user: User, now: datetime) -> list[RenewalSupport]:
    """Invites addressed to this user, and the supports their company accepted (pending first)."""
    return list(
        db.session.scalars(
            select(RenewalSupport)
            .where(
                or_(
                    (RenewalSupport.reseller_email == user.email)
                    & (RenewalSupport.status == "pending")
                    & (RenewalSupport.expires_at > now),
                    (RenewalSupport.reseller_company_id == user.company_id)
                    & (RenewalSupport.status == "accepted"),
                )
            )
            .order_by(RenewalSupport.status.desc(), RenewalSupport.id.desc())
        )
    )


def _for_reseller(user: User, support_id: int) -> RenewalSupport:
    def mine(support: RenewalSupport) -> bool:
        return support.reseller_email == user.email or (
            support.reseller_company_id is not None and support.reseller_company_id == user.company_id
        )

    return access.row_for(RenewalSupport, support_id, allowed=mine, message=NOT_FOUND)


def respond(user: User, support_id: int, accept: bool, *, now: datetime) -> RenewalSupport:
    expire_invites(now)
    support = _for_reseller(user, support_id)
    if support.status == "expired":
        raise RenewalSupportError("This invite expired after 7 days. Ask the customer to invite you again.")
    if support.status != "pending":
        raise RenewalSupportError("This invite was already answered or ended.")
    if accept and not user.company.is_partner:
        raise RenewalSupportError("Only a reseller (partner) account can accept Renewal Support.")
    support.status = "accepted" if accept else "declined"
    support.responded_at = now
    support.reseller_company_id = user.company_id
    db.session.flush()
    return support


def end_as_customer(user: User, support_id: int, *, now: datetime) -> RenewalSupport:
    support = access.row_for(
        RenewalSupport, support_id, allowed=lambda s: s.customer_company_id == user.company_id, message=NOT_FOUND
    )
    return _end(support, "customer", now)


def end_as_reseller(user: User, support_id: int, *, now: datetime) -> RenewalSupport:
    support = _for_reseller(user, support_id)
    if support.status != "accepted":
        raise RenewalSupportError("Only an accepted Renewal Support can be ended.")
    return _end(support, "reseller", now)


def _end(support: RenewalSupport, by: str, now: datetime) -> RenewalSupport:
    if support.status not in STANDING:
        raise RenewalSupportError("This Renewal Support has already ended.")
    support.status, support.ended_at, support.ended_by = "ended", now, by
    db.session.flush()
    return support


def status_text(support: RenewalSupport, now: datetime) -> str:
    """What the customer reads about the invite."""
    reseller = support.reseller.name if support.reseller else support.reseller_email
    return {
        "pending": f"Invite sent to {support.reseller_email}; waiting for an answer until {support.expires_at:%d %b %Y}.",
        "accepted": f"{reseller} accepted: they receive lifecycle notices 3 months ahead.",
        "declined": f"{reseller} declined the invite.",
        "expired": f"The invite to {support.reseller_email} expired unanswered after 7 days.",
        "ended": f"Ended by {'your company' if support.ended_by == 'customer' else 'the reseller'}.",
    }.get(status_of(support, now), support.status)


def customer_name(support: RenewalSupport) -> str:
    company = db.session.get(Company, support.customer_company_id)
    return company.name if company else ""
