"""Everything the device page shows, gathered in one place so the view and template stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from devicelink.contract import SENSITIVITIES, CommandType
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus, SubscriptionSegment, User
from portal.services.accounts import access
from portal.services.fleet import commands, nut_bridges, operating_modes
from portal.services.fleet.device_dates import DeviceDates, device_dates, registered_on
from portal.services.fleet.firmware import update_available
from portal.services.fleet.telemetry_store import device_freshness
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Plan, lowest_plan_allowing
from portal.services.licensing.renewal_banners import Banner, device_banners
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
    note: str = ""  # which promotion added free months to this term


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
    dates: DeviceDates
    timeline: tuple[TimelineRow, ...]
    today: date
    banners: tuple[Banner, ...] = ()

    @property
    def vars(self) -> dict:
        return (self.status.variables or {}) if self.status else {}

    @property
    def outlet_groups(self) -> list[tuple[str, str]]:
        """(name, "on" | "off") of each outlet group the UPS reports (NUT outlet.group.N.status)."""
        return outlet_states(self.vars)

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


def _timeline(standing: Standing, today: date, notes: dict[int, str] | None = None) -> tuple[TimelineRow, ...]:
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
                note=(notes or {}).get(segment.entitlement_id, ""),
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
                row.note,
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
    # A bridged UPS: what its driver cannot do is said first, since no license changes that.
    refusals.update(nut_bridges.unsupported_commands(device))
    firmware_update = update_available(device.model, device.firmware)
    log = commands.command_log(device)
    variables = (status.variables or {}) if status else {}
    dates = device_dates(
        model=device.model, variables=variables, battery_installed_on=device.battery_installed_on,
        battery_warranty_ends_on=device.battery_warranty_ends_on, warranty_ends_on=device.warranty_ends_on,
        registered_on=registered_on(device.trial_started_on, device.claimed_at),
    )
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
        battery_installed_on=dates.battery_installed_on,
        battery_replace_by=dates.battery_replace_by,
        dates=dates,
        timeline=_timeline(standing, today, entitlements.bonus_notes(device)),
        today=today,
        banners=tuple(
            device_banners(
                standing.covered_until, standing.on_trial, today,
                ended_on=None if standing.covered_until else _last_term_end(device),
            )
        ),
    )


def _last_term_end(device: Device) -> date | None:
    """When the device's last term ended (it is on Basic now), for the banner's words."""
    return db.session.scalar(select(func.max(SubscriptionSegment.end)).where(SubscriptionSegment.device_id == device.id))



def outlet_states(variables: dict) -> list[tuple[str, str]]:
    """The outlet groups' names and on/off states from NUT variables, in group order; unknown states are skipped."""
    groups = []
    for index in range(0, 16):
        status = str(variables.get(f"outlet.group.{index}.status", "")).strip().lower()
        if status not in ("on", "off"):
            continue
        name = str(variables.get(f"outlet.group.{index}.name") or f"Outlet group {index}")[:60]
        groups.append((name, status))
    return groups
