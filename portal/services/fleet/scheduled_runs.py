"""The due pass: run each schedule whose time has come exactly once, and watch rollouts' waves.

Called by `flask maintenance` (cron; every 15 minutes in `make run`). State lives in the database, so a
restart loses nothing. A run is claimed before anything is sent: one conditional UPDATE moves the
schedule's `next_run_at` from the occurrence it found to the following one, and only the pass whose
UPDATE changed the row runs it. A second pass at the same time (another cron, another host) changes no
row and sends nothing, on SQLite and PostgreSQL alike. A crash after the claim loses that run rather
than sending it twice. The following occurrence is counted from now, so a lab clock moved on by weeks
runs a missed schedule once, not once per missed week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import FleetSchedule
from portal.services.fleet import bulk_actions, commands, schedules
from portal.services.fleet.occurrences import next_after

SELF_TEST = bulk_actions.Choice(bulk_actions.ACTIONS["self_test"])
FIRMWARE = bulk_actions.Choice(bulk_actions.ACTIONS["firmware"])


@dataclass
class DueResult:
    runs: int = 0
    paused: int = 0
    finished: int = 0


def claim(schedule_id: int, due_at: datetime, following: datetime | None, **values) -> bool:
    """Take this occurrence: True for exactly one caller, however many passes try at once; commits."""
    try:
        outcome = db.session.execute(
            update(FleetSchedule)
            .where(FleetSchedule.id == schedule_id, FleetSchedule.next_run_at == due_at, FleetSchedule.status == "active")
            .values(next_run_at=following, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except OperationalError:  # SQLite: another pass holds the write lock past the busy timeout; it runs it
        db.session.rollback()
        return False
    return outcome.rowcount == 1


def _failed(batch) -> list[bulk_actions.ProgressLine]:
    return [line for line in bulk_actions.progress(batch).lines if line.state == "failed"]


def _name_failures(lines: list[bulk_actions.ProgressLine]) -> str:
    named = "; ".join(f"{line.device.serial}: {line.message.rstrip('.')}" for line in lines[:3])
    more = f" and {len(lines) - 3} more" if len(lines) > 3 else ""
    return f"{named}{more}"


def watch_rollouts(result: DueResult) -> None:
    """Pause a rollout whose first wave has a failed device; close one whose last wave has finished."""
    query = select(FleetSchedule).where(
        FleetSchedule.kind == schedules.ROLLOUT, FleetSchedule.status == "active", FleetSchedule.wave >= 2
    )
    for rollout in db.session.scalars(query).all():
        if rollout.wave == 2 and rollout.check_failures and rollout.first_wave_batch is not None:
            failed = _failed(rollout.first_wave_batch)
            if failed:
                rollout.status = "paused"
                rollout.status_reason = (
                    f"Paused: {len(failed)} device{'s' if len(failed) != 1 else ''} of the first wave failed "
                    f"({_name_failures(failed)}). Resume to send the second wave anyway, or cancel."
                )
                result.paused += 1
        elif rollout.wave == 3:
            batch = rollout.last_batch
            if batch is not None and not bulk_actions.progress(batch).finished:
                continue
            failed = _failed(batch) if batch is not None else []
            rollout.status, rollout.next_run_at = "done", None
            rollout.status_reason = (
                f"Finished; {len(failed)} device{'s' if len(failed) != 1 else ''} of the second wave failed "
                f"({_name_failures(failed)})." if failed else "Finished."
            )
            result.finished += 1
    db.session.commit()


def _ready(schedule: FleetSchedule) -> bool:
    """A rollout's second wave waits until every device of the first has finished (and none failed)."""
    if schedule.kind != schedules.ROLLOUT or schedule.wave != 2 or schedule.first_wave_batch is None:
        return True
    return bulk_actions.progress(schedule.first_wave_batch).finished and not (
        schedule.check_failures and _failed(schedule.first_wave_batch)
    )


def _first_wave(schedule: FleetSchedule, user, devices, today: date):
    """The first wave: `wave_percent` of the devices, those that would take the upgrade now first."""
    size = schedules.first_wave_size(len(devices), schedule.wave_percent or schedules.DEFAULT_WAVE_PERCENT)
    preview = bulk_actions.preview(user, devices, FIRMWARE, today=today)
    ordered = [line.device for line in preview.will_run] + [line.device for line in preview.will_not_run]
    return ordered[:size]


def _run(schedule: FleetSchedule, *, now: datetime, today: date, publish: commands.Publish) -> None:
    """Send this occurrence's batch (the claim is already committed)."""
    user = schedules.run_as(schedule)
    devices = schedules.devices_now(schedule, user)
    if schedule.kind == schedules.ROLLOUT:
        if schedule.first_wave_batch_id is None:
            devices, choice = _first_wave(schedule, user, devices, today), FIRMWARE
        else:
            sent = {item.device_id for item in schedule.first_wave_batch.items}
            devices, choice = [device for device in devices if device.id not in sent], FIRMWARE
    else:
        choice = SELF_TEST
    batch = bulk_actions.run(user, devices, choice, publish=publish, today=today, now=now) if devices else None
    schedule.last_run_at = now
    if batch is not None or schedule.kind != schedules.ROLLOUT:
        schedule.last_batch_id = batch.id if batch is not None else None  # None: no device at that time
    if schedule.kind == schedules.ROLLOUT and schedule.first_wave_batch_id is None:
        schedule.first_wave_batch_id = batch.id if batch is not None else None
        if batch is None:
            schedule.status, schedule.status_reason, schedule.next_run_at = "done", "No device to upgrade.", None


def _following(schedule: FleetSchedule, now: datetime) -> tuple[datetime | None, dict]:
    """Where the claim moves the schedule: its next occurrence after now, or the rollout's next wave."""
    cadence = schedules.cadence_of(schedule)
    if cadence is not None:
        return next_after(cadence, now), {}
    if schedule.wave == 1:
        return now + timedelta(hours=schedule.soak_hours or schedules.DEFAULT_SOAK_HOURS), {"wave": 2}
    return None, {"wave": 3}


def run_due(*, now: datetime, today: date, publish: commands.Publish, schedule_id: int | None = None) -> DueResult:
    """Every schedule due by now, once each (or only `schedule_id`); commits as it goes."""
    result = DueResult()
    if schedule_id is None:  # the full pass; a rollout's first wave sent at once needs no watching yet
        watch_rollouts(result)
    query = select(FleetSchedule.id, FleetSchedule.next_run_at).where(
        FleetSchedule.status == "active", FleetSchedule.next_run_at <= now
    )
    if schedule_id is not None:
        query = query.where(FleetSchedule.id == schedule_id)
    due = list(db.session.execute(query.order_by(FleetSchedule.next_run_at, FleetSchedule.id)))
    db.session.commit()  # end the read: each claim starts a transaction of its own
    for due_id, due_at in due:
        schedule = db.session.get(FleetSchedule, due_id)
        # The occurrence found above is the one claimed: a pass that reads the schedule after another pass
        # took it sees the following occurrence, which is not due, and must not claim that one instead.
        if schedule is None or schedule.next_run_at != due_at or schedule.wave >= 3:
            continue
        ready = _ready(schedule)
        following, values = _following(schedule, now)
        db.session.commit()  # the claim below must not write on a stale read (SQLite WAL)
        if not ready or not claim(due_id, due_at, following, **values):
            continue
        schedule = db.session.get(FleetSchedule, due_id)
        _run(schedule, now=now, today=today, publish=publish)
        db.session.commit()
        result.runs += 1
    return result
