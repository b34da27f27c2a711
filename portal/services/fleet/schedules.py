"""Scheduled fleet actions: a weekly or monthly self-test, or a firmware rollout in waves, kept per company.

A schedule names a selection of devices or a site; a site is resolved at each run (devices added to it
later are included) and every device is checked again then, so one no longer visible (a share that ended)
is skipped. Each run is an ordinary command batch (bulk_actions.run), followed on the batch page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Device, FleetSchedule, User
from portal.services.accounts import access
from portal.services.errors import DomainError
from portal.services.fleet import bulk_actions
from portal.services.fleet.occurrences import Cadence, next_after

SCHEDULE_NOT_FOUND = "No such schedule in your account."
SELF_TEST, ROLLOUT = "self_test", "firmware_rollout"
DEFAULT_WAVE_PERCENT = 10
DEFAULT_SOAK_HOURS = 24
MAX_SOAK_HOURS = 30 * 24


class ScheduleError(DomainError):
    """A schedule was refused (no target, a site the user has no device at, a wave or soak out of range)."""


@dataclass(frozen=True)
class Target:
    """A site (resolved at each run) or a fixed selection of devices."""

    site: str = ""
    device_ids: tuple[int, ...] = ()

    def describe(self) -> str:
        if self.site:
            return f"Site {self.site}"
        return f"{len(self.device_ids)} selected device{'s' if len(self.device_ids) != 1 else ''}"


def sites(user: User) -> list[str]:
    """The sites of the devices the user sees, for the site form."""
    query = access.visible_devices(user).with_only_columns(Device.site).where(Device.site != "").distinct()
    return sorted(db.session.scalars(query))


def parse_target(user: User, *, site: str, devices: list[Device]) -> Target:
    """A site or the given devices (each already checked as one the user may act on); ScheduleError otherwise."""
    site = (site or "").strip()
    if site and devices:
        raise ScheduleError("Choose either a site or a selection of devices, not both.", "site")
    if site:
        if site not in sites(user):
            raise ScheduleError(f"None of your devices is at a site named {site}.", "site")
        return Target(site=site)
    if not devices:
        raise ScheduleError("Choose a site, or select at least one device (tick it on the dashboard).", "site")
    try:
        ids = bulk_actions.check_size([device.id for device in devices])
    except bulk_actions.BulkError as error:  # more than one batch may take
        raise ScheduleError(error.message) from None
    return Target(device_ids=tuple(ids))


def _number(raw: object, default: int, low: int, high: int, message: str, field: str) -> int:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ScheduleError(message, field)
    return int(text)


def parse_rollout(*, wave_percent: object, soak_hours: object) -> tuple[int, int]:
    """The first wave's share (1-100 %, default 10 %) and the soak (1 h to 30 days, default 24 h)."""
    percent = _number(wave_percent, DEFAULT_WAVE_PERCENT, 1, 100, "The first wave is 1 to 100 % of the devices.", "wave_percent")
    soak = _number(soak_hours, DEFAULT_SOAK_HOURS, 1, MAX_SOAK_HOURS, f"The soak period is 1 to {MAX_SOAK_HOURS} hours.", "soak_hours")
    return percent, soak


def _new(user: User, target: Target, kind: str, now: datetime, **values) -> FleetSchedule:
    schedule = FleetSchedule(
        company_id=user.company_id, created_by_user_id=user.id, kind=kind, site=target.site,
        device_ids=list(target.device_ids), created_at=now, status="active", status_reason="", **values,
    )
    db.session.add(schedule)
    db.session.flush()
    return schedule


def create_self_test(user: User, target: Target, cadence: Cadence, *, now: datetime) -> FleetSchedule:
    """A recurring self-test; its first run is the cadence's next occurrence after now."""
    return _new(
        user, target, SELF_TEST, now, cadence=cadence.kind, weekday=cadence.weekday, day_of_month=cadence.day_of_month,
        hour=cadence.hour, next_run_at=next_after(cadence, now),
    )


def create_rollout(user: User, target: Target, *, wave_percent: int, soak_hours: int, now: datetime) -> FleetSchedule:
    """A firmware rollout whose first wave is due now (the caller runs the due schedule at once)."""
    return _new(
        user, target, ROLLOUT, now, cadence="", wave_percent=wave_percent, soak_hours=soak_hours, wave=1, next_run_at=now,
    )


def cadence_of(schedule: FleetSchedule) -> Cadence | None:
    if not schedule.cadence:
        return None
    return Cadence(schedule.cadence, schedule.hour or 0, weekday=schedule.weekday, day_of_month=schedule.day_of_month)


def schedule_for(user: User, schedule_id: int) -> FleetSchedule:
    """A schedule of the user's company; NotFound otherwise."""
    return access.company_row(user, FleetSchedule, schedule_id, message=SCHEDULE_NOT_FOUND)


def company_schedules(user: User) -> list[FleetSchedule]:
    query = select(FleetSchedule).where(FleetSchedule.company_id == user.company_id, FleetSchedule.status != "cancelled")
    return list(db.session.scalars(query.order_by(FleetSchedule.created_at.desc(), FleetSchedule.id.desc())))


def run_as(schedule: FleetSchedule) -> User:
    """The user a run acts as: the schedule's author, so every device is checked as for that user then."""
    return db.session.get(User, schedule.created_by_user_id)


def devices_now(schedule: FleetSchedule, user: User) -> list[Device]:
    """The devices a run takes now: the site's (as the user sees them today) or the selection's still visible;
    at most one batch's worth."""
    if schedule.site:
        query = access.visible_devices(user).where(Device.site == schedule.site).order_by(Device.id)
        devices = list(db.session.scalars(query.limit(bulk_actions.MAX_DEVICES)))
    else:
        found = (db.session.get(Device, device_id) for device_id in schedule.device_ids)
        devices = [device for device in found if device is not None and access.may_act_on(user, device)]
    return devices[: bulk_actions.MAX_DEVICES]


def first_wave_size(device_count: int, percent: int) -> int:
    """How many devices a rollout's first wave takes: `percent` of them rounded up, at least one."""
    return max(1, -(-device_count * percent // 100)) if device_count else 0


def pause(user: User, schedule: FleetSchedule) -> None:
    if schedule.status != "active":
        raise ScheduleError("Only an active schedule can be paused.")
    schedule.status, schedule.status_reason = "paused", f"Paused by {user.name}."


def resume(schedule: FleetSchedule, *, now: datetime) -> None:
    """Active again. A recurring schedule runs next at its first occurrence after now (a missed run is not
    made up); a rollout goes on to its next wave, past the failures the user has now seen."""
    if schedule.status != "paused":
        raise ScheduleError("Only a paused schedule can be resumed.")
    cadence = cadence_of(schedule)
    if cadence is not None:
        schedule.next_run_at = next_after(cadence, now)
    else:
        first = schedule.first_wave_batch
        if first is not None and bulk_actions.progress(first).counts.get("failed"):
            schedule.check_failures = False  # the user has seen the failures and goes on
        if schedule.wave < 3:  # both waves sent: nothing is left to run, it only waits to finish
            schedule.next_run_at = max(schedule.next_run_at or now, now)
    schedule.status, schedule.status_reason = "active", ""


def delete(schedule: FleetSchedule) -> None:
    """A recurring schedule is removed (its batches stay); a rollout is cancelled: no further wave is sent."""
    if schedule.kind == ROLLOUT:
        if schedule.status in ("done", "cancelled"):
            raise ScheduleError("This rollout has already ended.")
        schedule.status, schedule.status_reason, schedule.next_run_at = "cancelled", "Cancelled.", None
    else:
        db.session.delete(schedule)
