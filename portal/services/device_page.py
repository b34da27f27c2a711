"""Everything the device page shows, gathered in one place so the view and template stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from devicelink.contract import CommandType
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus, User
from portal.services import access, commands, licensing
from portal.services.firmware import update_available
from portal.services.plans import Plan
from portal.services.subscription_timeline import Segment, current_segment, queued_after


@dataclass(frozen=True)
class Freshness:
    state: str  # online | stale | offline | never
    text: str


@dataclass(frozen=True)
class DevicePageView:
    device: Device
    is_owner: bool
    plan: Plan
    current: Segment | None
    queued: tuple[Segment, ...]
    status: DeviceStatus | None
    freshness: Freshness
    firmware_update: str | None
    refusals: dict[str, str | None]  # command type -> None when allowed, else why not
    command_log: list[DeviceCommand]


def _minutes_ago(then: datetime, now: datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 1:
        return "last seen less than a minute ago"
    if minutes < 120:
        return f"last seen {minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"last seen {hours} hours ago"
    return f"last seen {hours // 24} days ago"


def freshness(status: DeviceStatus | None, now: datetime, stale_after_s: int) -> Freshness:
    """On line, stale (connected but silent too long), or offline, with "last seen N minutes ago"."""
    if status is None or status.last_seen_at is None:
        return Freshness("never", "not connected yet")
    seen = _minutes_ago(status.last_seen_at, now)
    if not status.online:
        return Freshness("offline", f"Offline, {seen}")
    if (now - status.last_seen_at).total_seconds() > stale_after_s:
        return Freshness("stale", f"Stale, {seen}")
    return Freshness("online", "On line")


def build(user: User, device: Device, *, today: date, now: datetime, stale_after_s: int = 300) -> DevicePageView:
    timeline = licensing.device_timeline(device)
    status = db.session.get(DeviceStatus, device.id)
    return DevicePageView(
        device=device,
        is_owner=access.is_owner(user, device),
        plan=licensing.current_plan(device, today),
        current=current_segment(timeline, today),
        queued=queued_after(timeline, today),
        status=status,
        freshness=freshness(status, now, stale_after_s),
        firmware_update=update_available(device.model, device.firmware),
        refusals={command.value: commands.command_allowed(device, command, today) for command in CommandType},
        command_log=commands.command_log(device),
    )
