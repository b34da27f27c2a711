"""Scheduled fleet actions: a recurring self-test, or a firmware rollout in waves; each run is a command batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.batches import CommandBatch


class FleetSchedule(db.Model):
    """What runs when, on which devices (a selection, or a site resolved at each run), for one company."""

    __tablename__ = "fleet_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # "self_test" (recurring) or "firmware_rollout" (waves)
    site: Mapped[str] = mapped_column(String(120), default="")  # "": the devices in device_ids
    device_ids: Mapped[list] = mapped_column(JSON, default=list)
    cadence: Mapped[str] = mapped_column(String(10), default="")  # "weekly", "monthly"; "" for a rollout
    weekday: Mapped[int | None]  # 0 = Monday
    day_of_month: Mapped[int | None]
    hour: Mapped[int | None]  # 0-23, lab clock (UTC)
    wave_percent: Mapped[int | None]
    soak_hours: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default="active")  # active, paused, cancelled, done
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    wave: Mapped[int] = mapped_column(default=0)  # a rollout's next wave: 1, 2; 3 once both were sent
    check_failures: Mapped[bool] = mapped_column(default=True)  # off once the user resumed past a failure
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    last_batch_id: Mapped[int | None] = mapped_column(ForeignKey("command_batches.id"))
    first_wave_batch_id: Mapped[int | None] = mapped_column(ForeignKey("command_batches.id"))
    created_at: Mapped[datetime]

    last_batch: Mapped[CommandBatch | None] = relationship(foreign_keys=[last_batch_id])
    first_wave_batch: Mapped[CommandBatch | None] = relationship(foreign_keys=[first_wave_batch_id])
