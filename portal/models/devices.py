"""Devices known to the portal and the shares that let a partner act on them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, false, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company, User
from portal.models.bridges import NutBridge


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
    location: Mapped[str] = mapped_column(String(120), default="", server_default="")  # room or rack within the site
    first_seen_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    trial_started_on: Mapped[date | None]  # set once per serial, never cleared
    battery_installed_on: Mapped[date | None]
    battery_warranty_ends_on: Mapped[date | None]
    warranty_ends_on: Mapped[date | None]
    # Set for a UPS a NUT bridge reports (docs/nut.md): which bridge, its upsd name and what LIST CMD/RW offered.
    bridge_id: Mapped[int | None] = mapped_column(ForeignKey("nut_bridges.id"), index=True)
    nut_ups: Mapped[str | None] = mapped_column(String(200))
    nut_commands: Mapped[list | None] = mapped_column(JSON)
    # The standing on `standing_on`, stored by licensing.stored_standing whenever the segments change and
    # rolled over when a day reaches `standing_until`: fleet-wide filters, sorts and counts read these.
    plan_today: Mapped[str] = mapped_column(String(16), default="basic", server_default="basic")
    term_end: Mapped[date | None]  # the end of the last segment (paid_through)
    on_trial: Mapped[bool] = mapped_column(default=False, server_default=false())
    standing_on: Mapped[date | None]  # the day the three above were computed for
    standing_until: Mapped[date | None] = mapped_column(index=True)  # the next segment boundary after it

    owner: Mapped[Company | None] = relationship()
    bridge: Mapped[NutBridge | None] = relationship()

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


# The dashboard's sorts (then serial, the tie-break) and its prefix search.
# The '' is written into the SQL, not bound: only the very expression of the index lets a query use it.
DISPLAY_NAME_SQL = func.coalesce(func.nullif(Device.name, literal_column("''")), Device.serial)
Index("ix_devices_owner_display_name", Device.owner_company_id, DISPLAY_NAME_SQL, Device.serial)
Index("ix_devices_owner_model", Device.owner_company_id, Device.model, Device.serial)
Index("ix_devices_owner_firmware", Device.owner_company_id, Device.model, Device.firmware)
Index("ix_devices_owner_site", Device.owner_company_id, Device.site, Device.serial)
Index("ix_devices_owner_plan", Device.owner_company_id, Device.plan_today, Device.serial)
Index("ix_devices_owner_term_end", Device.owner_company_id, Device.term_end, Device.serial)
# Prefix search on lower(column): SQLite seeks a range on it, PostgreSQL a LIKE 'prefix%' (text_pattern_ops).
SEARCHED = (Device.serial, Device.name, Device.model, Device.site)
for _column in SEARCHED:
    _folded = func.lower(_column).label(f"{_column.key}_folded")
    Index(f"ix_devices_{_column.key}_search", _folded, postgresql_ops={_folded.name: "text_pattern_ops"})
