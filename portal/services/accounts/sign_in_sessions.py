"""Sign-in sessions kept in the database, so signing out or changing the password really ends them.

The session cookie carries a random token; only its hash is stored. A cookie copied before sign-out is
worthless afterwards because its row is gone; every session also ends PERMANENT_SESSION_LIFETIME (31
days) after sign-in, however often its cookie is refreshed. Chosen over a per-user version number so that signing
out in one browser leaves the user's other browsers signed in, while a password change ends them all.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import SignInSession, User


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, *, now: datetime, lifetime: timedelta) -> str:
    """A new session for this user; the token goes into the cookie and nowhere else."""
    # Sessions never signed out (a closed browser) are tidied here, so the table stays small.
    db.session.execute(
        delete(SignInSession).where(SignInSession.user_id == user.id, SignInSession.created_at < now - lifetime)
    )
    token = secrets.token_urlsafe(32)
    db.session.add(SignInSession(user_id=user.id, token_hash=_hash(token), created_at=now))
    db.session.flush()
    return token


def user_for(user_id: int, token: str, *, started_after: datetime) -> User | None:
    """The user, if this token is one of their sessions and it started after the given time."""
    if not token:
        return None
    return db.session.scalar(
        select(User)
        .join(SignInSession, SignInSession.user_id == User.id)
        .where(
            User.id == user_id,
            SignInSession.token_hash == _hash(token),
            SignInSession.created_at > started_after,
        )
    )


def end(token: str) -> None:
    """End one session (sign out)."""
    if token:
        db.session.execute(delete(SignInSession).where(SignInSession.token_hash == _hash(token)))


def end_all_but(user: User, keep_token: str | None) -> int:
    """End every session of the user except the one still in use; how many were ended."""
    statement = delete(SignInSession).where(SignInSession.user_id == user.id)
    if keep_token:
        statement = statement.where(SignInSession.token_hash != _hash(keep_token))
    return db.session.execute(statement).rowcount
