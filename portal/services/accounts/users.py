"""Companies, users and co-worker invitations (the invitation email goes through the outbox)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from blinker import signal
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import Company, CompanyKind, Invitation, User
from portal.services.accounts import sign_in_sessions
from portal.services.errors import AccountError, NotFound
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue

MIN_PASSWORD_LENGTH = 10
# The wording the seeds show for the invite dialog.
EMPTY_EMAIL = "Please enter email address"
INVALID_EMAIL = "You have entered an invalid email address. Please re-enter the email address."
ALREADY_INVITED = "This co-worker has already been invited to the upsconnect portal. Please invite another co-worker."
BAD_SIGN_IN = "The email or password is incorrect."
# A hash to compare against when the email is unknown, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("not a real password")

# Sent inside sign_up's transaction. Features that give a new company its defaults listen (alerts: the default
# notification policy), so accounts need not know them and a page never has to create them on a read.
company_created = signal("upsconnect.company-created")


def normalize_email(raw: str) -> str:
    """A syntactically valid address, lower-cased, or AccountError with the seeds' wording."""
    text = (raw or "").strip()
    if not text:
        raise AccountError(EMPTY_EMAIL, field="email")
    try:
        # Deliverability would need DNS, which a closed network does not have.
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError(INVALID_EMAIL, field="email") from None


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use at least {MIN_PASSWORD_LENGTH} characters for the password.", field="password")


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def sign_up(
    *,
    company_name: str,
    kind: CompanyKind,
    country: str,
    city: str,
    phone: str,
    user_name: str,
    email: str,
    password: str,
    now: datetime,
) -> User:
    """A new company with its first user, who is its admin."""
    address = normalize_email(email)
    if user_by_email(address) is not None or _pending_invitation(address) is not None:
        raise AccountError("An account with this email address already exists. Sign in instead.", field="email")
    _check_password(password)
    company = Company(
        name=company_name.strip(), kind=kind, country=country.strip(), city=city.strip(), phone=phone.strip(),
        created_at=now,
    )
    user = User(
        company=company, email=address, name=user_name.strip(), password_hash=generate_password_hash(password),
        is_admin=True, created_at=now,
    )
    db.session.add_all([company, user])
    db.session.flush()
    company_created.send(company, now=now)
    return user


def authenticate(email: str, password: str) -> User:
    """The user with these credentials, or one message for every kind of failure."""
    user = user_by_email((email or "").strip())
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        raise AccountError(BAD_SIGN_IN)
    if not check_password_hash(user.password_hash, password or ""):
        raise AccountError(BAD_SIGN_IN)
    return user


def change_password(user: User, current: str, new: str, *, keep_session: str | None) -> int:
    """Set a new password (the current one is asked, sign-up's rules apply); every other session ends.

    Returns how many other sessions were ended."""
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError("The current password is incorrect.", field="current_password")
    _check_password(new)
    if check_password_hash(user.password_hash, new):
        raise AccountError("Choose a password different from the current one.", field="password")
    user.password_hash = generate_password_hash(new)
    ended = sign_in_sessions.end_all_but(user, keep_session)
    db.session.flush()
    return ended


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pending_invitation(email: str) -> Invitation | None:
    return db.session.scalar(select(Invitation).where(Invitation.email == email, Invitation.accepted_at.is_(None)))


@dataclass(frozen=True)
class SentInvitation:
    invitation: Invitation
    token: str  # only ever known here and in the email; the database keeps its hash


def invite_coworker(
    inviter: User, email: str, *, now: datetime, join_link: Callable[[str], str]
) -> SentInvitation:
    """Invite someone to join the inviter's company; the email with ``join_link(token)`` is queued with it."""
    if not inviter.is_admin:
        raise AccountError("Only an administrator of your company can invite co-workers.")
    address = normalize_email(email)
    already = db.session.scalar(select(Invitation).where(Invitation.email == address))
    if already is not None or user_by_email(address) is not None:
        raise AccountError(ALREADY_INVITED, field="email")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        company_id=inviter.company_id, email=address, token_hash=_token_hash(token), invited_by_id=inviter.id,
        created_at=now,
    )
    db.session.add(invitation)
    enqueue(
        inviter.company_id,
        "email",
        address,
        f"{inviter.name} invited you to {inviter.company.name} on upsconnect",
        {"text": render_email("email/invitation.txt", inviter=inviter, link=join_link(token))},
        event_type="coworker_invitation",
        now=now,
        confidential=True,  # the link lets its reader join the company
    )
    db.session.flush()
    return SentInvitation(invitation, token)


def open_invitation(token: str) -> Invitation:
    """The pending invitation this link carries."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token or "")))
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound("This invitation link is not valid any more. Ask your co-worker for a new one.")
    return invitation


def accept_invitation(token: str, *, user_name: str, password: str, now: datetime) -> User:
    """Join the inviting company as a regular user."""
    invitation = open_invitation(token)
    _check_password(password)
    if not user_name.strip():
        raise AccountError("Please enter your name.", field="name")
    user = User(
        company_id=invitation.company_id, email=invitation.email, name=user_name.strip(),
        password_hash=generate_password_hash(password), is_admin=False, created_at=now,
    )
    invitation.accepted_at = now
    db.session.add(user)
    db.session.flush()
    return user


def pending_invitations(company_id: int) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(Invitation.company_id == company_id, Invitation.accepted_at.is_(None))
            .order_by(Invitation.created_at.desc())
        )
    )
