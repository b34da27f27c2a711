"""Bulk actions: one batch of the same command sent to many devices, and what each device made of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.devices import Device
from portal.models.telemetry import DeviceCommand


class CommandBatch(db.Model):
    """One bulk action a user confirmed: which action, with which settings, by whom, for which company."""

    __tablename__ = "command_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]

    items: Mapped[list[CommandBatchItem]] = relationship(back_populates="batch", order_by="CommandBatchItem.id")


class CommandBatchItem(db.Model):
    """One device of a batch: the command sent to it, or why none was sent."""

    __tablename__ = "command_batch_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("command_batches.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    command_id: Mapped[str | None] = mapped_column(ForeignKey("device_commands.id"))
    refusal: Mapped[str] = mapped_column(String(500), default="")

    batch: Mapped[CommandBatch] = relationship(back_populates="items")
    device: Mapped[Device] = relationship()
    command: Mapped[DeviceCommand | None] = relationship()
