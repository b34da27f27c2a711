"""A device's ownership handed from one company to another: the offer, its answer, and the record both keep."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company, User
from portal.models.devices import Device


class TransferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # stored when a new offer replaces one that ran out; a pending row past expires_at reads as expired


class OwnershipTransfer(db.Model):
    """An offer to hand a device to another company; once answered, the audit entry both companies see."""

    __tablename__ = "ownership_transfers"
    __table_args__ = (Index("ix_ownership_transfers_device_status", "device_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    serial: Mapped[str] = mapped_column(String(32))  # as it was offered: the record outlives the device's names
    model: Mapped[str] = mapped_column(String(40))
    from_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    to_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    to_email: Mapped[str] = mapped_column(String(254))  # the receiving user it was addressed to, lower-cased
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[TransferStatus] = mapped_column(Enum(TransferStatus, native_enum=False, length=16))
    offered_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()
    from_company: Mapped[Company] = relationship(foreign_keys=[from_company_id])
    to_company: Mapped[Company] = relationship(foreign_keys=[to_company_id])
    offered_by: Mapped[User] = relationship(foreign_keys=[offered_by_user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_user_id])
