"""TOTP two-factor sign-in: enrolment with a confirmation code, sign-in codes, one-time recovery codes.

Codes follow RFC 6238 (30-second steps, 6 digits, SHA-1: what every authenticator app reads). Time is
the wall clock the phone shares, never the lab clock. A code is accepted one step either side for clock
drift, and never twice: the last accepted step is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash

from portal.extensions import db
from portal.models import RecoveryCode, User
from portal.services.errors import AccountError

ISSUER = "upsconnect"
RECOVERY_CODE_COUNT = 10
DRIFT_STEPS = 1
BAD_CODE = "That code is not right. Enter the 6-digit code your authenticator app shows now, or a recovery code."


def new_secret() -> str:
    """A fresh random base32 secret (160 bits)."""
    return pyotp.random_base32(32)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth:// for authenticator apps
    qr_data_uri: str  # the same URI as an SVG QR code, for an <img> (no script, allowed by the CSP)


def enrolment(user: User, secret: str) -> Enrolment:
    """What the enrolment page shows for this secret."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret, uri, segno.make(uri, error="m").svg_data_uri(scale=4))


def _timestamp(now: datetime) -> int:
    # pyotp reads a naive datetime as local time; timestamps stored here are naive UTC.
    return int(now.replace(tzinfo=UTC).timestamp())


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (within the drift window), or None."""
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(_timestamp(now), UTC))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash_recovery(code: str) -> str:
    # Recovery codes are random (80 bits), so a fast hash cannot be reversed by guessing.
    return hashlib.sha256("".join(code.split()).replace("-", "").lower().encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(code)) for code in codes)
    return codes


def enable(user: User, secret: str, code: str, *, now: datetime) -> list[str]:
    """Turn two-factor on once the app shows a matching code; the recovery codes, shown only this once."""
    if user.two_factor_enabled:
        raise AccountError("Two-factor sign-in is already on.")
    if not secret:
        raise AccountError("The set-up expired. Start again.", field="code")
    step = _matching_step(secret, code, now)
    if step is None:
        raise AccountError(BAD_CODE, field="code")
    user.totp_secret = secret
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    db.session.flush()
    return codes


def verify(user: User, code: str, *, now: datetime) -> None:
    """Accept a current authenticator code or an unused recovery code (which is then spent)."""
    if not user.two_factor_enabled:
        return
    step = _matching_step(user.totp_secret or "", code, now)
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            raise AccountError("That code was used already. Wait for the next one.", field="code")
        user.totp_last_step = step
        db.session.flush()
        return
    # A conditional delete: two requests racing with one recovery code cannot both succeed.
    spent = db.session.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_recovery(code or ""))
    ).rowcount
    if spent != 1:
        raise AccountError(BAD_CODE, field="code")


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).where(RecoveryCode.user_id == user.id)) or 0


def disable(user: User, password: str) -> None:
    """Turn two-factor off; the password is asked again so a borrowed session cannot do it."""
    if not check_password_hash(user.password_hash, password or ""):
        raise AccountError("The password is incorrect.", field="password")
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()
