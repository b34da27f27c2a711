"""Shared With Me: the devices customers shared, grouped by customer, soonest renewal first.

Term dates come from the SubscriptionSegment rows (one query for every shared device), which
licensing.refresh_segments keeps equal to each device's timeline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, Device, DeviceStatus, SubscriptionSegment, User
from portal.services.accounts import access
from portal.services.fleet.device_dates import device_dates, registered_on
from portal.services.licensing.plans import Plan
from portal.services.licensing.subscription_timeline import Segment, Timeline, covered_until, current_segment

# Decision: a battery is due for replacement four years after it was installed, unless the UPS
# itself reports a replace-by date (NUT battery.date.maintenance, which Smart-UPS units report).
RENEWAL_SOON_DAYS = 90


@dataclass(frozen=True)
class SharedDeviceRow:
    device: Device
    plan: Plan
    term_ends_on: date | None  # first day on Basic counting from today; None when on Basic now
    lapsed_on: date | None  # when on Basic now: the day its last term ended, if it ever had one
    battery_replace_by: date | None
    battery_warranty_ends_on: date | None
    warranty_ends_on: date | None
    today: date

    @property
    def renewal_key(self) -> tuple[int, date]:
        """Soonest expiry first: lapsed devices (longest lapsed first), then by term end."""
        if self.term_ends_on is None:
            return (0, self.lapsed_on or date.min)
        return (1, self.term_ends_on)

    @property
    def renewal_state(self) -> str:
        """basic | due | ok: due when the term ends within RENEWAL_SOON_DAYS."""
        if self.term_ends_on is None:
            return "basic"
        return "due" if (self.term_ends_on - self.today).days <= RENEWAL_SOON_DAYS else "ok"


@dataclass(frozen=True)
class CustomerGroup:
    company: Company
    rows: list[SharedDeviceRow]


def timelines_for(device_ids: list[int]) -> dict[int, Timeline]:
    """Each device's timeline from its stored segments, in one query."""
    segments: dict[int, list[Segment]] = defaultdict(list)
    if device_ids:
        rows = db.session.execute(
            select(SubscriptionSegment)
            .where(SubscriptionSegment.device_id.in_(device_ids))
            .order_by(SubscriptionSegment.device_id, SubscriptionSegment.start)
        ).scalars()
        for row in rows:
            segments[row.device_id].append(
                Segment(Plan.from_key(row.plan), row.start, row.end, row.entitlement_id)
            )
    return {device_id: Timeline(tuple(segments[device_id])) for device_id in device_ids}


def device_rows(devices: list[Device], *, today: date) -> list[SharedDeviceRow]:
    """Rows for these devices, soonest renewal first."""
    ids = [device.id for device in devices]
    timelines = timelines_for(ids)
    statuses: dict[int, dict] = {}
    if ids:
        for status in db.session.scalars(select(DeviceStatus).where(DeviceStatus.device_id.in_(ids))):
            statuses[status.device_id] = status.variables
    rows = []
    for device in devices:
        dates = device_dates(
            model=device.model, variables=statuses.get(device.id), battery_installed_on=device.battery_installed_on,
            battery_warranty_ends_on=device.battery_warranty_ends_on, warranty_ends_on=device.warranty_ends_on,
            registered_on=registered_on(device.trial_started_on, device.claimed_at),
        )
        timeline = timelines[device.id]
        segment = current_segment(timeline, today)
        past = [s.end for s in timeline.segments if s.end <= today]
        rows.append(
            SharedDeviceRow(
                device=device,
                plan=segment.plan if segment else Plan.BASIC,
                term_ends_on=covered_until(timeline, today) if segment else None,
                lapsed_on=max(past) if past and segment is None else None,
                battery_replace_by=dates.battery_replace_by,
                battery_warranty_ends_on=dates.battery_warranty_ends_on,
                warranty_ends_on=dates.warranty_ends_on,
                today=today,
            )
        )
    rows.sort(key=lambda row: (row.renewal_key, row.device.serial))
    return rows


def shared_with_me(user: User, *, today: date) -> list[CustomerGroup]:
    """Devices shared with the user's company, grouped by owning customer; both by soonest renewal."""
    devices = list(db.session.scalars(access.shared_devices(user)))
    by_owner: dict[int, list[SharedDeviceRow]] = defaultdict(list)
    for row in device_rows(devices, today=today):
        by_owner[row.device.owner_company_id].append(row)
    companies = (
        {c.id: c for c in db.session.scalars(select(Company).where(Company.id.in_(list(by_owner))))}
        if by_owner
        else {}
    )
    groups = [CustomerGroup(company=companies[owner_id], rows=rows) for owner_id, rows in by_owner.items()]
    groups.sort(key=lambda group: (group.rows[0].renewal_key, group.company.name.lower()))
    return groups


def assignable_rows(user: User, *, today: date) -> list[SharedDeviceRow]:
    """Every device the user may assign a license to (own and shared), soonest renewal first."""
    devices = list(db.session.scalars(access.visible_devices(user)))
    return device_rows(devices, today=today)


def customers_of(user: User) -> list[str]:
    """Names of the companies that shared devices with the user's company, for the order form."""
    owner_ids = select(Device.owner_company_id).where(
        Device.id.in_(select(access.shared_devices(user).subquery().c.id))
    )
    return list(
        db.session.scalars(select(Company.name).where(Company.id.in_(owner_ids)).order_by(Company.name))
    )
