"""Everything the device page shows, gathered in one place so the view and template stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from devicelink.contract import SENSITIVITIES, CommandType
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus, User
from portal.services.accounts import access
from portal.services.fleet import commands, operating_modes
from portal.services.fleet.battery_life import battery_replace_by, parse_day
from portal.services.fleet.firmware import update_available
from portal.services.fleet.telemetry_store import device_freshness
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Plan, lowest_plan_allowing
from portal.services.licensing.subscription_timeline import Segment, Standing

SENSITIVITY_CHOICES = tuple(s for s in ("normal", "reduced", "low") if s in SENSITIVITIES)


@dataclass(frozen=True)
class Freshness:
    state: str  # online | stale | offline
    text: str


@dataclass(frozen=True)
class OperatingMode:
    key: str
    label: str
    severity: str  # critical | warning | info | ok
    runtime_min: int | None  # estimated runtime, shown with On Line / On Battery

    @property
    def badge(self) -> str:
        return f"badge-{self.severity}"


@dataclass(frozen=True)
class Action:
    """One remote action the page offers, or explains why not."""

    type: str
    label: str
    reason: str | None  # None when the plan allows it now
    needed_plan: Plan
    group: str = ""  # outlet group for reboots

    @property
    def allowed(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class TimelineRow:
    label: str  # "Standard (trial)", "Advanced", "Basic"
    kind: str  # trial | standard | advanced | basic
    state: str  # current | queued | fallback
    start: date
    end: date | None  # None: Basic from then on
    x: float = 0.0  # position on the bar, 0..1000
    width: float = 0.0


@dataclass(frozen=True)
class DevicePageView:
    device: Device
    is_owner: bool
    plan: Plan
    current: Segment | None
    queued: tuple[Segment, ...]
    status: DeviceStatus | None
    freshness: Freshness
    mode: OperatingMode
    firmware_update: str | None
    refusals: dict[str, str | None]  # command type -> None when allowed, else why not
    actions: tuple[Action, ...]
    command_log: list[DeviceCommand]
    open_commands: bool
    battery_installed_on: date | None
    battery_replace_by: date | None
    timeline: tuple[TimelineRow, ...]
    today: date

    @property
    def vars(self) -> dict:
        return (self.status.variables or {}) if self.status else {}

    @property
    def sensitivity(self) -> str:
        return str(self.vars.get("input.sensitivity", "")).lower()

    @property
    def firmware_progress(self) -> DeviceCommand | None:
        """The firmware upgrade under way, for the progress bar beside the firmware version."""
        return next(
            (
                c
                for c in self.command_log
                if c.type == CommandType.FIRMWARE_UPGRADE.value and c.status in commands.OPEN_STATUSES
            ),
            None,
        )


def operating_mode(status: DeviceStatus | None, freshness_state: str) -> OperatingMode:
    """The SmartConnect operating mode from the latest status, with the estimated runtime."""
    runtime = (status.variables or {}).get("battery.runtime") if status else None
    runtime_min = (
        round(runtime / 60) if isinstance(runtime, int | float) and not isinstance(runtime, bool) else None
    )
    mode = operating_modes.BY_KEY[operating_modes.mode_key(status.ups_status if status else "", freshness_state)]
    return OperatingMode(mode.key, mode.label, mode.severity, runtime_min if mode.shows_runtime else None)



def _actions(
    device: Device, refusals: dict[str, str | None], firmware_update: str | None
) -> tuple[Action, ...]:
    def action(command: CommandType, label: str, group: str = "") -> Action:
        needed = lowest_plan_allowing(commands.FEATURE_FOR_COMMAND[command])
        return Action(command.value, label, refusals[command.value], needed, group)

    rows = []
    if firmware_update:
        rows.append(action(CommandType.FIRMWARE_UPGRADE, f"Upgrade firmware to {firmware_update}"))
    rows.append(action(CommandType.TEST_BATTERY_START, "Start self-test"))
    rows.append(action(CommandType.INPUT_SENSITIVITY, "Set input sensitivity"))
    for group in (device.outlet_groups or [])[1:]:  # the first group is the unswitched main outlets
        rows.append(action(CommandType.OUTLET_GROUP_CYCLE, f"Reboot {group}", group))
    return tuple(rows)


def _timeline(standing: Standing, today: date) -> tuple[TimelineRow, ...]:
    """Current term, queued terms (the trial labelled), then Basic; positioned on a 0..1000 bar."""
    segments = ([standing.current] if standing.current else []) + list(standing.queued)
    rows: list[TimelineRow] = []
    for segment in segments:
        trial = standing.is_trial(segment)
        rows.append(
            TimelineRow(
                label=f"{segment.plan.display_name}{' (trial)' if trial else ''}",
                kind="trial" if trial else segment.plan.key,
                state="current" if segment.covers(today) else "queued",
                start=segment.start,
                end=segment.end,
            )
        )
    basic_from = segments[-1].end if segments else today
    rows.append(TimelineRow("Basic", "basic", "fallback" if segments else "current", basic_from, None))
    # The bar runs from today to the last end, plus a tail for Basic (a tenth of the span, at least 30 days).
    first = min(today, rows[0].start)
    span = max((basic_from - first).days, 1)
    tail = max(span // 10, 30)
    total = span + tail
    placed = []
    for row in rows:
        start = max(row.start, first)
        end = row.end or basic_from + timedelta(days=tail)
        placed.append(
            TimelineRow(
                row.label,
                row.kind,
                row.state,
                row.start,
                row.end,
                round((start - first).days * 1000 / total, 1),
                round(max((end - start).days, 1) * 1000 / total, 1),
            )
        )
    return tuple(placed)


def build(
    user: User, device: Device, *, today: date, now: datetime, stale_after_s: int = 300
) -> DevicePageView:
    """The page's data. ``today`` is the business date (lab clock); ``now`` the real clock, for liveness."""
    standing = entitlements.device_standing(device, today)  # once per request; everything below reads it
    status = db.session.get(DeviceStatus, device.id)
    state, seen = device_freshness(status, now, stale_after_s)
    if status is None or status.last_seen_at is None:
        fresh = Freshness("offline", "Not connected yet")
    elif state == "online":
        fresh = Freshness("online", "On line")
    else:
        fresh = Freshness(state, f"{'Offline' if state == 'offline' else 'Stale'}, {seen}")
    refusals = {command.value: commands.command_allowed(standing.plan, command) for command in CommandType}
    firmware_update = update_available(device.model, device.firmware)
    log = commands.command_log(device)
    variables = (status.variables or {}) if status else {}
    installed = device.battery_installed_on or parse_day(variables.get("battery.date"))
    return DevicePageView(
        device=device,
        is_owner=access.is_owner(user, device),
        plan=standing.plan,
        current=standing.current,
        queued=standing.queued,
        status=status,
        freshness=fresh,
        mode=operating_mode(status, fresh.state),
        firmware_update=firmware_update,
        refusals=refusals,
        actions=_actions(device, refusals, firmware_update),
        command_log=log,
        open_commands=any(c.status in commands.OPEN_STATUSES for c in log),
        battery_installed_on=installed,
        battery_replace_by=battery_replace_by(device.model, installed, variables),
        timeline=_timeline(standing, today),
        today=today,
    )

