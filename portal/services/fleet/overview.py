"""The dashboard's questions about a whole fleet, answered in a few SQL queries.

Operating mode, plan today and term end are computed in SQL (a CASE over the latest status row and
the subscription segments), so filters, sorting and counts stay fast at ten thousand devices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from portal.extensions import db
from portal.models import Device, DeviceStatus, User
from portal.services.accounts import access
from portal.services.fleet import operating_modes
from portal.services.fleet.firmware import update_available
from portal.services.licensing import standing_sql

PAGE_SIZE = 25
RENEWAL_DUE_DAYS = 90
TRIAL_ENDING_DAYS = 30

# The dashboard's tiles and mode filter, in precedence order: (label, severity) by mode key.
MODES = {mode.key: (mode.label, mode.severity) for mode in operating_modes.TILES}
PLANS = ("basic", "standard", "advanced")
SORTS = {"name", "model", "site", "mode", "load", "charge", "runtime", "plan", "term_end"}


def _has_token(token: str) -> ColumnElement[bool]:
    return (literal(" ") + func.coalesce(DeviceStatus.ups_status, "") + literal(" ")).like(f"% {token} %")


def mode_expression(stale_before: datetime) -> ColumnElement[str]:
    """The device's operating mode from its latest status row, as a CASE built from the precedence table."""
    freshness = {
        "offline": or_(DeviceStatus.device_id.is_(None), DeviceStatus.online.is_(False)),
        "stale": or_(DeviceStatus.last_seen_at.is_(None), DeviceStatus.last_seen_at < stale_before),
    }
    whens = [
        (freshness[mode.freshness] if mode.freshness else _has_token(mode.status_token), mode.key)
        for mode in operating_modes.TILES
        if mode.freshness or mode.status_token
    ]
    return case(*whens, else_=operating_modes.FALLBACK.key)


@dataclass(frozen=True)
class Filters:
    q: str = ""
    mode: str = ""
    plan: str = ""
    model: str = ""
    site: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, args) -> Filters:
        """Filters from query arguments; anything unknown falls back to the default instead of failing."""
        sort = args.get("sort", "name")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        try:
            page = max(1, min(int(args.get("page", 1)), 100_000))
        except (TypeError, ValueError):
            page = 1
        return cls(
            q=(args.get("q") or "").strip()[:80],
            mode=args.get("mode") if args.get("mode") in MODES else "",
            plan=args.get("plan") if args.get("plan") in PLANS else "",
            model=(args.get("model") or "").strip()[:40],
            site=(args.get("site") or "").strip()[:120],
            sort=sort if sort in SORTS else "name",
            descending=descending,
            page=page,
        )

    def query_args(self, **changes) -> dict[str, str]:
        """These filters as URL arguments, with some changed (for sort links and pages)."""
        values = {
            "q": self.q, "mode": self.mode, "plan": self.plan, "model": self.model, "site": self.site,
            "sort": ("-" if self.descending else "") + self.sort, "page": str(self.page),
        }
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value not in ("", "1") or key == "sort"}


@dataclass(frozen=True)
class DeviceLine:
    id: int
    serial: str
    name: str
    model: str
    site: str
    mode: str
    plan: str
    term_end: date | None
    load_percent: float | None
    charge_percent: float | None
    runtime_s: float | None
    shared: bool

    @property
    def mode_label(self) -> str:
        return MODES[self.mode][0]

    @property
    def severity(self) -> str:
        return MODES[self.mode][1]


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    count: int
    severity: str


@dataclass
class Overview:
    lines: list[DeviceLine]
    total: int
    page: int
    pages: int
    tiles: list[Tile]
    renewal_due: int
    trial_ending: int
    firmware_updates: int
    models: list[str]
    sites: list[str]
    filters: Filters
    mode_counts: dict[str, int] = field(default_factory=dict)


def _base(user: User) -> Select:
    return access.visible_devices(user).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)


def overview(user: User, filters: Filters, *, today: date, now: datetime, stale_after_s: int) -> Overview:
    """Tiles, banners and one page of the device table for everything the user may see."""
    mode = mode_expression(now - timedelta(seconds=stale_after_s)).label("mode")
    plan = standing_sql.plan_today(today).label("plan")
    term_end = standing_sql.term_end().label("term_end")
    load = DeviceStatus.variables["ups.load"].as_float().label("load")
    charge = DeviceStatus.variables["battery.charge"].as_float().label("charge")
    runtime = DeviceStatus.variables["battery.runtime"].as_float().label("runtime")
    name = func.coalesce(func.nullif(Device.name, ""), Device.serial)

    rows = _base(user).with_only_columns(Device.id, mode, plan, term_end).subquery()
    counts = dict(db.session.execute(select(rows.c.mode, func.count()).group_by(rows.c.mode)).all())
    due_before = today + timedelta(days=RENEWAL_DUE_DAYS)
    renewal_due = db.session.scalar(
        select(func.count()).select_from(rows).where(rows.c.term_end.is_not(None), rows.c.term_end <= due_before)
    )
    trial_ending = db.session.scalar(
        _base(user).with_only_columns(func.count(Device.id)).where(
            standing_sql.on_trial(today), standing_sql.term_end() <= today + timedelta(days=TRIAL_ENDING_DAYS)
        )
    )
    firmware_groups = db.session.execute(
        _base(user).with_only_columns(Device.model, Device.firmware, func.count(Device.id)).group_by(Device.model, Device.firmware)
    ).all()
    firmware_updates = sum(count for model, firmware, count in firmware_groups if update_available(model, firmware))

    query = _base(user).with_only_columns(
        Device.id, Device.serial, Device.name, Device.model, Device.site, Device.owner_company_id, mode, plan, term_end, load, charge, runtime
    )
    if filters.q:
        pattern = f"%{filters.q.lower()}%"
        query = query.where(or_(func.lower(Device.serial).like(pattern), func.lower(Device.name).like(pattern), func.lower(Device.model).like(pattern), func.lower(Device.site).like(pattern)))
    if filters.mode:
        query = query.where(mode_expression(now - timedelta(seconds=stale_after_s)) == filters.mode)
    if filters.plan:
        query = query.where(standing_sql.plan_today(today) == filters.plan)
    if filters.model:
        query = query.where(Device.model == filters.model)
    if filters.site:
        query = query.where(Device.site == filters.site)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    sort_column = {
        "name": name, "model": Device.model, "site": Device.site, "mode": mode, "load": load, "charge": charge,
        "runtime": runtime, "plan": plan, "term_end": term_end,
    }[filters.sort]
    ordering = sort_column.desc() if filters.descending else sort_column.asc()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    result = db.session.execute(query.order_by(ordering.nulls_last(), Device.serial).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    lines = [
        DeviceLine(
            id=row.id, serial=row.serial, name=row.name, model=row.model, site=row.site, mode=row.mode, plan=row.plan,
            term_end=row.term_end, load_percent=row.load, charge_percent=row.charge, runtime_s=row.runtime,
            shared=row.owner_company_id != user.company_id,
        )
        for row in result
    ]
    models = sorted(db.session.scalars(_base(user).with_only_columns(Device.model).distinct()))
    sites = sorted(s for s in db.session.scalars(_base(user).with_only_columns(Device.site).distinct()) if s)
    tiles = [Tile(key, label, counts.get(key, 0), severity) for key, (label, severity) in MODES.items()]
    return Overview(
        lines=lines, total=total, page=page, pages=pages, tiles=tiles, renewal_due=renewal_due, trial_ending=trial_ending,
        firmware_updates=firmware_updates, models=models, sites=sites, filters=filters, mode_counts=counts,
    )

