"""NUT bridges: agents that publish the UPSes behind a customer's upsd servers (docs/nut.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company


class NutBridge(db.Model):
    """One enrolled (or waiting) bridge agent of a company. Tokens and secrets are kept only as SHA-256."""

    __tablename__ = "nut_bridges"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    site: Mapped[str] = mapped_column(String(120), default="")
    public_id: Mapped[str] = mapped_column(String(24), unique=True)  # the agent's id; part of derived UPS ids
    created_at: Mapped[datetime]
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    enrolment_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # cleared once used
    enrolment_expires_at: Mapped[datetime | None]
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime | None]
    last_report_at: Mapped[datetime | None]

    company: Mapped[Company] = relationship()
