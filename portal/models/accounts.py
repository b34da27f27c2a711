"""Companies, their users and invitations to join them."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
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

    company: Mapped[Company] = relationship(back_populates="users")


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
