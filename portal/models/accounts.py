"""Companies, their users and invitations to join them."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.services.outbox.signing import new_secret


class CompanyKind(enum.StrEnum):
    CUSTOMER = "customer"
    PARTNER = "partner"


class Company(db.Model):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[CompanyKind] = mapped_column(Enum(CompanyKind, native_enum=False, length=16))
    country: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime]
    # signs the company's generic webhooks (Standard Webhooks "whsec_..."); rotated from the notifications page
    webhook_secret: Mapped[str] = mapped_column(String(80), default=new_secret)

    users: Mapped[list[User]] = relationship(back_populates="company", order_by="User.id")

    @property
    def is_partner(self) -> bool:
        return self.kind == CompanyKind.PARTNER


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    # Two-factor sign-in: the confirmed TOTP secret (None: off) and the last time step accepted, so a code
    # seen over a shoulder cannot be used again.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    company: Mapped[Company] = relationship(back_populates="users")

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_secret is not None


class SignInSession(db.Model):
    """One signed-in browser: the cookie carries its token, the database its hash; deleting the row ends it."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class RecoveryCode(db.Model):
    """A one-time two-factor recovery code, stored hashed; redeeming it deletes the row."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))


class Invitation(db.Model):
    """A co-worker invited by email; accepting it creates a user in the same company."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("email", name="uq_invitations_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]

    company: Mapped[Company] = relationship()
    invited_by: Mapped[User] = relationship()
