"""What the battery did: each run on battery measured from telemetry, with the health it showed."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import User


class BatteryDischarge(db.Model):
    """One episode on battery (outage, self-test or calibration), from the first OB sample to the return.

    Written by the battery pass (``flask battery``) from stored telemetry, never by a page. The last
    two columns are the device's estimate with this discharge counted, so a page reads one row.
    """

    __tablename__ = "battery_discharges"
    __table_args__ = (
        UniqueConstraint("device_id", "started_at", name="uq_discharge_device_start"),
        Index("ix_discharge_device_ended", "device_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    kind: Mapped[str] = mapped_column(String(16))  # outage | self-test | calibration
    started_at: Mapped[datetime]  # first sample on battery
    ended_at: Mapped[datetime]  # first sample back on line (or output off)
    ended_by: Mapped[str] = mapped_column(String(16))  # line | output-off
    duration_s: Mapped[float]
    samples: Mapped[int]
    start_charge_percent: Mapped[float]
    end_charge_percent: Mapped[float]
    load_percent: Mapped[float]  # mean over the samples on battery
    energy_wh: Mapped[float]  # load (W) x time delivered from the battery
    temperature_c: Mapped[float | None]  # the UPS's internal temperature as the discharge began
    predicted_runtime_s: Mapped[float | None]  # what the device said it had left at the start
    measured_runtime_s: Mapped[float | None]  # the runtime from that charge at that load, as measured
    health: Mapped[float | None]  # usable capacity relative to new shown by this discharge; None: too short
    estimate_health: Mapped[float | None]  # the device's health estimate with this discharge counted
    estimate_replace_by: Mapped[date | None]  # the replace-by date that estimate's trend predicts


class BatteryReplacement(db.Model):
    """One battery replacement recorded in the logbook: its day resets the install date and health baseline."""

    __tablename__ = "battery_replacements"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    replaced_on: Mapped[date]
    sku: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(200), default="")
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]

    recorded_by: Mapped[User | None] = relationship()
