"""Renewal quotes partners prepare for their customers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class Quote(db.Model):
    """A quote's input as the partner gave it (devices or an uploaded MyRenewals file); its priced
    options are recomputed from the price list when shown or downloaded."""

    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID: quote URLs are not guessable
    partner_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    customer_name: Mapped[str] = mapped_column(String(120), default="")
    source: Mapped[str] = mapped_column(String(16))  # shared | upload
    quoted_on: Mapped[date]
    created_at: Mapped[datetime]
    lines: Mapped[list] = mapped_column(JSON, default=list)  # one dict per device: model, serial, expiries, SKUs
