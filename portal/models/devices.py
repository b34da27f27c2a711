"""Devices known to the portal and the shares that let a partner act on them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company, User


class Device(db.Model):
    """One UPS, by serial. The row outlives ownership so a serial's trial is granted once, ever."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    model: Mapped[str] = mapped_column(String(40))
    firmware: Mapped[str] = mapped_column(String(40), default="")
    battery_type: Mapped[str] = mapped_column(String(16), default="lead-acid")
    outlet_groups: Mapped[list] = mapped_column(JSON, default=list)
    owner_company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    site: Mapped[str] = mapped_column(String(120), default="")
    first_seen_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    trial_started_on: Mapped[date | None]  # set once per serial, never cleared
    battery_installed_on: Mapped[date | None]
    battery_warranty_ends_on: Mapped[date | None]
    warranty_ends_on: Mapped[date | None]

    owner: Mapped[Company | None] = relationship()

    @property
    def display_name(self) -> str:
        return self.name or f"{self.model} {self.serial}"


class ShareStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"


class DeviceShare(db.Model):
    """A device shared by its owner with a user of another company (a partner or co-owner)."""

    __tablename__ = "device_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipient_company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    status: Mapped[ShareStatus] = mapped_column(Enum(ShareStatus, native_enum=False, length=16))
    confirmation_code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()
    recipient_user: Mapped[User | None] = relationship()
