"""Subscription Overview: every device's plan, term end, queued terms and renewal status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import Device, Entitlement, SubscriptionSegment, User
from portal.services.accounts import access
from portal.services.licensing.plans import Plan
from portal.services.licensing.renewal_banners import Banner, RenewalCounts, classify, renewal_banners
from portal.services.licensing.subscription_timeline import Segment, Timeline, standing_on


@dataclass(frozen=True)
class SubscriptionRow:
    device: Device
    plan: Plan
    on_trial: bool
    current_end: date | None  # end of the running term
    queued: tuple[tuple[Plan, date, date], ...]
    covered_until: date | None  # when all assigned time runs out
    shared: bool

    def renewal_status(self, today: date) -> tuple[str, str]:
        """(label, severity) as SmartConnect shows it."""
        counts = classify(self.covered_until, self.on_trial, today)
        if counts.on_basic:
            return "Basic: no subscription", "critical"
        if counts.renewal_due and self.covered_until:
            days = (self.covered_until - today).days
            return f"Renewal due in {days} day{'s' if days != 1 else ''}", "warning"
        return "Subscribed", "ok"


def banners(rows: list[SubscriptionRow], today: date) -> list[Banner]:
    """The page's renewal banners, by the rule the dashboard and device page use."""
    counts = sum((classify(row.covered_until, row.on_trial, today) for row in rows), RenewalCounts())
    return renewal_banners(counts)


def overview(user: User, *, today: date) -> list[SubscriptionRow]:
    """Every device the user may see, soonest expiry first (devices already on Basic at the top)."""
    devices = {d.id: d for d in db.session.scalars(access.visible_devices(user))}
    segments: dict[int, list[tuple[SubscriptionSegment, str]]] = {device_id: [] for device_id in devices}
    if devices:
        rows = db.session.execute(
            select(SubscriptionSegment, Entitlement.source)
            .join(Entitlement, Entitlement.id == SubscriptionSegment.entitlement_id)
            .where(SubscriptionSegment.device_id.in_(devices))
            .order_by(SubscriptionSegment.start)
        )
        for segment, source in rows:
            segments[segment.device_id].append((segment, source))
    result = []
    for device_id, device in devices.items():
        stored = segments[device_id]
        timeline = Timeline(tuple(Segment(Plan.from_key(s.plan), s.start, s.end, s.entitlement_id) for s, _ in stored))
        standing = standing_on(timeline, today, frozenset(s.entitlement_id for s, source in stored if source == "trial"))
        result.append(
            SubscriptionRow(
                device=device,
                plan=standing.plan,
                on_trial=standing.on_trial,
                current_end=standing.current.end if standing.current else None,
                queued=tuple((s.plan, s.start, s.end) for s in standing.queued),
                covered_until=standing.covered_until,
                shared=device.owner_company_id != user.company_id,
            )
        )
    result.sort(key=lambda row: (row.covered_until or date.min, row.device.serial))
    return result
