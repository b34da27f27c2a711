"""The dashboard's questions about a whole fleet, answered in a few indexed SQL queries.

Nothing is recomputed per device per request: the status row stores the mode ups.status reports and the
readings (`stored_facts`), the device row stores its plan today, term end and trial (`stored_standing`). The
tiles are one GROUP BY over those columns with the freshness modes put on top; the table seeks one page
after (or before) an opaque cursor on the sort key and the serial, which the indexes follow.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, case, func, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from portal.extensions import db
from portal.models import Device, DeviceStatus, User
from portal.models.devices import DISPLAY_NAME_SQL, SEARCHED
from portal.services.accounts import access
from portal.services.fleet import operating_modes
from portal.services.fleet.firmware import update_available
from portal.services.licensing.renewal_banners import (
    Banner,
    RenewalCounts,
    counts_sql,
    may_count,
    renewal_banners,
)

PAGE_SIZE = 25

# The dashboard's tiles and mode filter, in precedence order: (label, severity) by mode key.
MODES = {mode.key: (mode.label, mode.severity) for mode in operating_modes.TILES}
PLANS = ("basic", "standard", "advanced")
SORTS = {"name", "model", "site", "mode", "load", "charge", "runtime", "plan", "term_end"}


def _freshness(stale_before: datetime) -> dict[str, ColumnElement[bool]]:
    return {
        "offline": or_(DeviceStatus.device_id.is_(None), DeviceStatus.online.is_(False)),
        "stale": or_(DeviceStatus.last_seen_at.is_(None), DeviceStatus.last_seen_at < stale_before),
    }


def mode_expression(stale_before: datetime) -> ColumnElement[str]:
    """The device's operating mode: the freshness modes of the precedence table over the stored status mode."""
    freshness = _freshness(stale_before)
    whens = [(freshness[mode.freshness], mode.key) for mode in operating_modes.FRESHNESS_MODES]
    return case(*whens, else_=func.coalesce(DeviceStatus.status_mode, operating_modes.FALLBACK.key))


def _mode_is(key: str, stale_before: datetime) -> ColumnElement[bool]:
    """`mode_expression(...) == key`, written so the status-mode index serves it."""
    freshness = _freshness(stale_before)
    earlier = []
    for mode in operating_modes.FRESHNESS_MODES:
        if mode.key == key:
            return and_(*(~condition for condition in earlier), freshness[mode.freshness])
        earlier.append(freshness[mode.freshness])
    return and_(*(~condition for condition in earlier), DeviceStatus.status_mode == key)


def _search(text: str, dialect: str) -> ColumnElement[bool]:
    """Serial, name, model or site starting with `text` (any case), served by each column's lower() index.

    PostgreSQL seeks a LIKE 'prefix%' on its text_pattern_ops index; SQLite seeks the byte range of the prefix
    (from the prefix to the prefix with its last character incremented), which is the same set of rows.
    """
    folded = text.lower()
    if dialect == "postgresql":
        pattern = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return or_(*(func.lower(column).like(pattern, escape="\\") for column in SEARCHED))
    following = folded[:-1] + chr(ord(folded[-1]) + 1)
    return or_(*(and_(func.lower(column) >= folded, func.lower(column) < following) for column in SEARCHED))


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
    cursor: str = ""  # opaque: where the page starts (or ends), from a page link; "" to count by `page`

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
            cursor=(args.get("cursor") or "")[:400],
        )

    def query_args(self, **changes) -> dict[str, str]:
        """These filters as URL arguments, with some changed (for sort links and pages)."""
        values = {
            "q": self.q, "mode": self.mode, "plan": self.plan, "model": self.model, "site": self.site,
            "sort": ("-" if self.descending else "") + self.sort, "page": str(self.page), "cursor": self.cursor,
        }
        if "cursor" not in changes and ({"sort", "page"} & changes.keys()):
            values["cursor"] = ""  # a cursor belongs to the page it came from
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
    banners: list[Banner]
    firmware_updates: int
    models: list[str]
    sites: list[str]
    filters: Filters
    mode_counts: dict[str, int] = field(default_factory=dict)
    previous_cursor: str = ""  # the page links: seek before the first line, after the last
    next_cursor: str = ""


def _base(user: User) -> Select:
    return access.visible_devices(user).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)


def _visible(user: User) -> Select:
    """The devices alone, for questions that need nothing from the status row."""
    return access.visible_devices(user)


def _filtered(query: Select, filters: Filters, *, today: date, now: datetime, stale_after_s: int) -> Select:
    if filters.q:
        query = query.where(_search(filters.q, db.session.get_bind().dialect.name))
    if filters.mode:
        query = query.where(_mode_is(filters.mode, now - timedelta(seconds=stale_after_s)))
    if filters.plan:
        query = query.where(Device.plan_today == filters.plan)
    if filters.model:
        query = query.where(Device.model == filters.model)
    if filters.site:
        query = query.where(Device.site == filters.site)
    return query


def matching_ids(user: User, filters: Filters, *, today: date, now: datetime, stale_after_s: int, limit: int) -> list[int]:
    """Ids of the devices the dashboard's filters match (search, mode, plan, model, site), at most `limit`."""
    query = _filtered(_base(user).with_only_columns(Device.id), filters, today=today, now=now, stale_after_s=stale_after_s)
    return list(db.session.scalars(query.order_by(Device.serial).limit(limit)))


def sort_key(sort: str, stale_before: datetime) -> ColumnElement:
    """The column (or expression) a sort orders by; the serial breaks ties."""
    return {
        "name": DISPLAY_NAME_SQL, "model": Device.model, "site": Device.site, "mode": mode_expression(stale_before),
        "load": DeviceStatus.load_percent, "charge": DeviceStatus.charge_percent, "runtime": DeviceStatus.runtime_s,
        "plan": Device.plan_today, "term_end": Device.term_end,
    }[sort]


@dataclass(frozen=True)
class Cursor:
    """A page boundary: the sort it belongs to, the boundary row's sort value and serial, and which way to read."""

    sort: str  # as in the URL: "-load"
    value: str | float | date | None
    serial: str
    forward: bool  # True: the rows after it; False: the rows before it

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, date) else self.value
        raw = json.dumps([self.sort, value, self.serial, "n" if self.forward else "p"], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> Cursor | None:
        """The cursor in `text` if it is well formed and belongs to `sort`; None otherwise (read from page 1)."""
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor_sort, value, serial, way = data
            key = cursor_sort.lstrip("-")
            if cursor_sort != sort or not isinstance(serial, str) or way not in ("n", "p"):
                return None
            if value is not None:
                if key == "term_end":
                    value = date.fromisoformat(value)
                elif key in ("load", "charge", "runtime"):
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        return None
                    value = float(value)
                elif not isinstance(value, str):
                    return None
        except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
            return None
        return cls(sort, value, serial, way == "n")


# Sorts whose key is never NULL (NOT NULL columns, the name's coalesce, the mode's CASE): they order
# without "nulls last", which SQLite's indexes cannot serve, so an ascending page is read off the
# owner's index in order (ix_devices_owner_display_name for the default sort) instead of sorting all.
NEVER_NULL_SORTS = frozenset({"name", "model", "site", "mode", "plan"})


def _seek(key: ColumnElement, cursor: Cursor, descending: bool, *, nullable: bool = True) -> ColumnElement[bool]:
    """The rows after (or before) the cursor in the order key (nulls last), then serial."""
    past_serial = Device.serial > cursor.serial if cursor.forward else Device.serial < cursor.serial
    if cursor.value is None:
        if cursor.forward:
            return and_(key.is_(None), past_serial)
        return or_(key.is_not(None), and_(key.is_(None), past_serial))
    later = key < cursor.value if descending else key > cursor.value
    earlier = key > cursor.value if descending else key < cursor.value
    within = or_(later if cursor.forward else earlier, and_(key == cursor.value, past_serial))
    # Nulls come last: reading forward they are still ahead (none when the key is never NULL).
    return or_(within, key.is_(None)) if cursor.forward and nullable else within


def _ordering(key: ColumnElement, descending: bool, forward: bool, *, nullable: bool = True) -> list:
    if forward:
        order = key.desc() if descending else key.asc()
        return [order.nulls_last() if nullable else order, Device.serial.asc()]
    order = key.asc() if descending else key.desc()
    return [order.nulls_first() if nullable else order, Device.serial.desc()]


def overview(user: User, filters: Filters, *, today: date, now: datetime, stale_after_s: int) -> Overview:
    """Tiles, banners and one page of the device table for everything the user may see."""
    stale_before = now - timedelta(seconds=stale_after_s)
    mode = mode_expression(stale_before).label("mode")

    counts = dict(db.session.execute(_base(user).with_only_columns(mode, func.count()).group_by(mode)).all())
    terms = _visible(user).with_only_columns(Device.term_end.label("term_end"), Device.on_trial.label("on_trial"))
    rows = union_all(*(terms.where(condition) for condition in may_count(Device.term_end, today))).subquery()
    renewals = RenewalCounts(*db.session.execute(counts_sql(rows, today)).one())
    firmware_groups = db.session.execute(
        _visible(user).with_only_columns(Device.model, Device.firmware, func.count(Device.id)).group_by(Device.model, Device.firmware)
    ).all()
    firmware_updates = sum(count for model, firmware, count in firmware_groups if update_available(model, firmware))

    key = sort_key(filters.sort, stale_before)
    nullable = filters.sort not in NEVER_NULL_SORTS
    query = _filtered(
        _base(user).with_only_columns(
            Device.id, Device.serial, Device.name, Device.model, Device.site, Device.owner_company_id, mode,
            Device.plan_today, Device.term_end, DeviceStatus.load_percent, DeviceStatus.charge_percent,
            DeviceStatus.runtime_s, key.label("sort_value"),
        ),
        filters, today=today, now=now, stale_after_s=stale_after_s,
    )
    # The status row is needed to count only under a mode filter; otherwise the owner's index suffices.
    counted = query if filters.mode else _filtered(_visible(user), filters, today=today, now=now, stale_after_s=stale_after_s)
    total = db.session.scalar(select(func.count()).select_from(counted.with_only_columns(Device.id).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    sort = ("-" if filters.descending else "") + filters.sort
    cursor = Cursor.decode(filters.cursor, sort) if filters.cursor else None
    if cursor is not None:
        found = list(db.session.execute(
            query.where(_seek(key, cursor, filters.descending, nullable=nullable))
            .order_by(*_ordering(key, filters.descending, cursor.forward, nullable=nullable)).limit(PAGE_SIZE)
        ))
        found = found if cursor.forward else found[::-1]
    else:
        found = list(db.session.execute(
            query.order_by(*_ordering(key, filters.descending, True, nullable=nullable))
            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ))
    lines = [
        DeviceLine(
            id=row.id, serial=row.serial, name=row.name, model=row.model, site=row.site, mode=row.mode, plan=row.plan_today,
            term_end=row.term_end, load_percent=row.load_percent, charge_percent=row.charge_percent, runtime_s=row.runtime_s,
            shared=row.owner_company_id != user.company_id,
        )
        for row in found
    ]
    models = sorted(db.session.scalars(_visible(user).with_only_columns(Device.model).distinct()))
    sites = sorted(s for s in db.session.scalars(_visible(user).with_only_columns(Device.site).distinct()) if s)
    tiles = [Tile(key, label, counts.get(key, 0), severity) for key, (label, severity) in MODES.items()]
    return Overview(
        lines=lines, total=total, page=page, pages=pages, tiles=tiles, renewal_due=renewals.renewal_due,
        trial_ending=renewals.trial_ending, banners=renewal_banners(renewals),
        firmware_updates=firmware_updates, models=models, sites=sites, filters=filters, mode_counts=counts,
        previous_cursor=Cursor(sort, found[0].sort_value, found[0].serial, False).encode() if found else "",
        next_cursor=Cursor(sort, found[-1].sort_value, found[-1].serial, True).encode() if found else "",
    )
