"""Personal access tokens: shown once, stored as SHA-256, scoped, revocable; each call made with one is audited.

A token acts only as the user who made it: the API looks the user up from the token and then asks the
ordinary tenancy accessors (portal.services.accounts.access) what that user may see.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from portal.extensions import db
from portal.models import ApiCall, ApiToken, User
from portal.services.accounts.access import row_for
from portal.services.errors import DomainError

PREFIX = "upc_"
MAX_NAME = 80
MAX_ACTIVE_TOKENS = 20
NOT_FOUND = "No such token in your account."


class Scope(enum.StrEnum):
    READ = "read"  # devices, live state, events, telemetry, timelines, the command log
    COMMANDS = "commands"  # send remote commands (each still gated by the device's plan)
    LICENSING = "licensing"  # verify activation codes, preview and assign licenses from them

    @property
    def description(self) -> str:
        return SCOPE_DESCRIPTIONS[self]


SCOPE_DESCRIPTIONS = {
    Scope.READ: "Read devices, live state, events, telemetry, timelines and commands.",
    Scope.COMMANDS: "Send remote commands (self-test, firmware, sensitivity, outlet reboot) the plan allows.",
    Scope.LICENSING: "Verify activation codes, preview and assign licenses from them.",
}


class TokenError(DomainError):
    """A token rule refused: no name, no scope, too many tokens."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(values: list[str]) -> list[str]:
    """Known scopes in their canonical order; an unknown one is refused by name."""
    unknown = [value for value in values if value not in {scope.value for scope in Scope}]
    if unknown:
        raise TokenError(f"Unknown scope {unknown[0][:40]!r}: choose read, commands or licensing.", field="scopes")
    return [scope.value for scope in Scope if scope.value in values]


def create_token(user: User, name: str, scopes: list[str], *, now: datetime) -> NewToken:
    """A new token for the user with these scopes; the secret is returned once."""
    name = " ".join((name or "").split())
    if not name:
        raise TokenError("Give the token a name, such as the tool that will use it.", field="name")
    if len(name) > MAX_NAME:
        raise TokenError(f"The name can have at most {MAX_NAME} characters.", field="name")
    chosen = parse_scopes(scopes)
    if not chosen:
        raise TokenError("Choose at least one scope.", field="scopes")
    if len(active_tokens(user)) >= MAX_ACTIVE_TOKENS:
        raise TokenError(f"You have {MAX_ACTIVE_TOKENS} tokens already: revoke one you no longer use first.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, token_hash=digest(secret), hint=secret[: len(PREFIX) + 6], scopes=chosen,
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    return NewToken(token, secret)


def active_tokens(user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(ApiToken.id)))


@dataclass(frozen=True)
class TokenLine:
    token: ApiToken
    last_used_at: datetime | None
    calls: int


def tokens_page(user: User) -> list[TokenLine]:
    """The user's tokens, newest first, with when each was last used (from the audit trail)."""
    usage = dict(
        (token_id, (last, count))
        for token_id, last, count in db.session.execute(
            select(ApiCall.token_id, func.max(ApiCall.at), func.count(ApiCall.id))
            .join(ApiToken, ApiToken.id == ApiCall.token_id)
            .where(ApiToken.user_id == user.id)
            .group_by(ApiCall.token_id)
        )
    )
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc()))
    return [TokenLine(row, *usage.get(row.id, (None, 0))) for row in rows]


def revoke_token(user: User, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke one of the user's own tokens (a co-worker's token is not theirs: NotFound)."""
    token = row_for(ApiToken, token_id, allowed=lambda row: row.user_id == user.id, message=NOT_FOUND)
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def token_for_secret(secret: str) -> ApiToken | None:
    """The live token this secret belongs to, or None (unknown, malformed or revoked)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    return token if token is not None and token.revoked_at is None else None


def record_call(token_id: int, method: str, path: str, status: int, *, now: datetime) -> None:
    """One line of the audit trail, written in its own transaction.

    Its own connection, so the audit never commits whatever a failed call left in the request's session, and
    never expires the objects a streamed answer (a CSV report) still reads after the call returns.
    """
    with db.engine.begin() as connection:
        connection.execute(
            insert(ApiCall).values(token_id=token_id, method=method[:8], path=path[:300], status=status, at=now)
        )
