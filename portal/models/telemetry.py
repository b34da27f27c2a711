"""What devices report: the latest state per device, telemetry history, the event log, commands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import User
from portal.models.column_types import GrowingId
from portal.models.devices import Device


class DeviceStatus(db.Model):
    """One row per device with its latest report, so the dashboard reads one row, not the history."""

    __tablename__ = "device_status"
    __table_args__ = (
        # The dashboard's tiles group by these; its sorts by a reading seek on the reading's index.
        Index("ix_device_status_mode", "status_mode", "online", "last_seen_at"),
        # Covers the tiles' GROUP BY from the device side without reading the wide rows (variables).
        Index("ix_device_status_live", "device_id", "online", "last_seen_at", "status_mode"),
        Index("ix_device_status_load", "load_percent"),
        Index("ix_device_status_charge", "charge_percent"),
        Index("ix_device_status_runtime", "runtime_s"),
    )

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    online: Mapped[bool] = mapped_column(default=False)  # from the retained state topic
    state_changed_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]  # when the portal last received anything from it
    last_telemetry_at: Mapped[datetime | None]  # the device's own timestamp of its latest telemetry
    # seq is the device's own number (the lab starts it from simulated milliseconds): 64-bit
    last_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    ups_status: Mapped[str] = mapped_column(String(80), default="")
    variables: Mapped[dict] = mapped_column(JSON, default=dict)  # latest NUT variables as reported
    # the open offline incident: when its one offline alert was raised (None: no incident alerted)
    offline_alerted_at: Mapped[datetime | None]
    # Derived from ups_status and variables whenever they are written (fleet.stored_facts.status_facts):
    # the mode ups.status reports for a live device, and the readings the dashboard sorts by.
    status_mode: Mapped[str] = mapped_column(String(20), default="online", server_default="online")
    load_percent: Mapped[float | None]
    charge_percent: Mapped[float | None]
    runtime_s: Mapped[float | None]

    device: Mapped[Device] = relationship()


class TelemetrySample(db.Model):
    """One telemetry message at full resolution: the values charts and reports use."""

    __tablename__ = "telemetry_samples"
    __table_args__ = (
        UniqueConstraint("device_id", "seq", name="uq_telemetry_device_seq"),
        Index("ix_telemetry_device_ts", "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)  # device-supplied, up to 2**63 - 1 (the contract's bound)
    ts: Mapped[datetime]
    ups_status: Mapped[str] = mapped_column(String(80), default="")
    load_percent: Mapped[float | None]
    charge_percent: Mapped[float | None]
    runtime_s: Mapped[float | None]
    input_voltage_v: Mapped[float | None]
    output_voltage_v: Mapped[float | None]
    input_frequency_hz: Mapped[float | None]
    temperature_c: Mapped[float | None]


class TelemetryRollup(db.Model):
    """Telemetry older than the full-resolution window, averaged into fixed buckets per device."""

    __tablename__ = "telemetry_rollups"
    __table_args__ = (UniqueConstraint("device_id", "bucket_start", name="uq_rollup_device_bucket"),)

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    bucket_start: Mapped[datetime]
    bucket_seconds: Mapped[int]
    samples: Mapped[int]
    load_percent: Mapped[float | None]
    charge_percent: Mapped[float | None]
    runtime_s: Mapped[float | None]
    input_voltage_v: Mapped[float | None]
    output_voltage_v: Mapped[float | None]
    temperature_c: Mapped[float | None]
    min_input_voltage_v: Mapped[float | None]
    max_input_voltage_v: Mapped[float | None]
    on_battery_samples: Mapped[int] = mapped_column(default=0)


class DeviceEvent(db.Model):
    """An entry of the device's event log, in APC's codes and wording."""

    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("device_id", "seq", name="uq_event_device_seq"),
        Index("ix_event_device_ts", "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)  # device-supplied, up to 2**63 - 1 (the contract's bound)
    ts: Mapped[datetime]
    code: Mapped[str] = mapped_column(String(16), default="")
    severity: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(500))
    # Set when a user's own command (self-test, calibration) caused it, so alerts can say so.
    caused_by_command_id: Mapped[str | None] = mapped_column(String(36))


class DeviceCommand(db.Model):
    """A remote command sent to a device and what became of it."""

    __tablename__ = "device_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the UUID carried on the wire
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | accepted | progress | done | failed | timed_out
    progress_percent: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime]

    issued_by: Mapped[User | None] = relationship()
