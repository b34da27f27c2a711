"""Renewal notices: `flask renewals` raises each notice once, however often it runs.

Customers: 90, 30 and 7 days before a device's covered time ends (its paid or trial term, with any
queued terms after it), and when a trial has ended with nothing after it. Resellers with an accepted
Renewal Support invite: 3 months ahead of plan expiry, battery replacement, battery end of life and
warranty expiry. A ``RenewalNotice(device_id, term_end, kind)`` row, unique, records each notice; the
emails and webhooks go through the notification outbox in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    Company,
    Device,
    DeviceStatus,
    Entitlement,
    RenewalNotice,
    RenewalSupport,
    SubscriptionSegment,
    User,
)
from portal.services.alerts.channels import Alert, public_url
from portal.services.alerts.event_types import EVENT_TYPES
from portal.services.alerts.fan_out import fan_out
from portal.services.alerts.unsubscribe import is_unsubscribed, unsubscribe_url
from portal.services.calendar_dates import add_months
from portal.services.fleet.device_dates import device_dates, registered_on
from portal.services.licensing.plans import Plan
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue

CUSTOMER_DAYS = (7, 30, 90)  # tightest first
TRIAL_ENDED_GRACE = timedelta(days=30)  # a trial that ended longer ago than this is not announced any more
SEVERITY_FOR = {"90d": "informational", "30d": "warning", "7d": "critical", "trial_ended": "warning"}
SEVERITY_ORDER = {"informational": 0, "warning": 1, "critical": 2}
RESELLER_KINDS = {
    "reseller_3m_plan": "Plan expiry",
    "reseller_3m_battery": "Battery replacement due",
    "reseller_3m_battery_eol": "Battery end of life",
    "reseller_3m_warranty": "Warranty expiry",
}
RESELLER_MONTHS_AHEAD = 3


@dataclass(frozen=True)
class Coverage:
    end: date  # first day on Basic (exclusive end of the covered time)
    plan: Plan  # plan of the last covered term
    is_trial: bool  # the last covered term is the trial


@dataclass(frozen=True)
class Due:
    device: Device
    kind: str
    term_end: date
    event_type: str
    severity: str
    sentence: str


@dataclass
class RenewalRun:
    customer: int = 0
    reseller: int = 0


def _segments(device_ids: list[int] | None, since: date) -> dict[int, list[tuple[SubscriptionSegment, str]]]:
    query = (
        select(SubscriptionSegment, Entitlement.source)
        .join(Entitlement, Entitlement.id == SubscriptionSegment.entitlement_id)
        .where(SubscriptionSegment.end > since)
        .order_by(SubscriptionSegment.device_id, SubscriptionSegment.start)
    )
    if device_ids is not None:
        query = query.where(SubscriptionSegment.device_id.in_(device_ids))
    grouped: dict[int, list[tuple[SubscriptionSegment, str]]] = defaultdict(list)
    for segment, source in db.session.execute(query):
        grouped[segment.device_id].append((segment, source))
    return grouped


def coverage_on(segments: list[tuple[SubscriptionSegment, str]], today: date) -> Coverage | None:
    """The covered stretch that contains today (joined segments), or None when the device is on Basic."""
    chain_end: date | None = None
    last: tuple[SubscriptionSegment, str] | None = None
    for segment, source in segments:
        if chain_end is None:
            if segment.start <= today < segment.end:
                chain_end, last = segment.end, (segment, source)
        elif segment.start == chain_end:
            chain_end, last = segment.end, (segment, source)
        elif segment.start > chain_end:
            break
    if chain_end is None or last is None:
        return None
    return Coverage(chain_end, Plan.from_key(last[0].plan), last[1] == "trial")


def ended_trial(segments: list[tuple[SubscriptionSegment, str]], today: date) -> date | None:
    """The day a trial ended with nothing after it, if that was within the grace period."""
    if not segments:
        return None
    segment, source = segments[-1]
    if source == "trial" and segment.end <= today < segment.end + TRIAL_ENDED_GRACE:
        return segment.end
    return None


def _fmt(day: date) -> str:
    return day.strftime("%d %b %Y")


def customer_dues(device: Device, segments: list[tuple[SubscriptionSegment, str]], today: date) -> list[Due]:
    coverage = coverage_on(segments, today)
    if coverage is None:
        ended = ended_trial(segments, today)
        if ended is None:
            return []
        return [
            Due(
                device,
                "trial_ended",
                ended,
                "trial_ending",
                SEVERITY_FOR["trial_ended"],
                f"The Standard trial of {device.display_name} ended on {_fmt(ended)}. It is on Basic now: "
                "no email alerts and no new event-log entries until a license is assigned.",
            )
        ]
    days_left = (coverage.end - today).days
    for days in CUSTOMER_DAYS:
        if days_left <= days:
            kind = f"{days}d"
            what = "trial" if coverage.is_trial else f"{coverage.plan.display_name} plan"
            return [
                Due(
                    device,
                    kind,
                    coverage.end,
                    "trial_ending" if coverage.is_trial else "renewal_due",
                    SEVERITY_FOR[kind],
                    f"The {what} of {device.display_name} ends on {_fmt(coverage.end)} (in {days_left} day{'s' if days_left != 1 else ''}).",
                )
            ]
    return []


def _record(due: Due, company_id: int, now: datetime) -> bool:
    """Insert the notice row; False when it was raised before (by an earlier or a concurrent run)."""
    exists = db.session.scalar(
        select(RenewalNotice.id).where(
            RenewalNotice.device_id == due.device.id,
            RenewalNotice.term_end == due.term_end,
            RenewalNotice.kind == due.kind,
        )
    )
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                RenewalNotice(
                    device_id=due.device.id,
                    company_id=company_id,
                    term_end=due.term_end,
                    kind=due.kind,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _admins(company_id: int) -> list[str]:
    users = db.session.scalars(select(User).where(User.company_id == company_id).order_by(User.id)).all()
    admins = [u.email for u in users if u.is_admin]
    return admins or [u.email for u in users]


def _notify_customer(company: Company, dues: list[Due], now: datetime) -> None:
    """One digest per event type, to the admins and the policies that chose it, through the one fan-out."""
    by_type: dict[str, list[Due]] = defaultdict(list)
    for due in dues:
        by_type[due.event_type].append(due)
    link = public_url("/dashboard")
    for event_type, items in by_type.items():
        severity = max((d.severity for d in items), key=SEVERITY_ORDER.__getitem__)
        count = len(items)
        noun = "device needs" if count == 1 else "devices need"
        subject = (
            f"Trial ending: {count} {noun} a license"
            if event_type == "trial_ending"
            else f"Renewal due: {count} {noun} a license soon"
        )
        alert = Alert(
            event_type=event_type,
            event_label=EVENT_TYPES[event_type],
            severity=severity,
            title=subject,
            text=" ".join(d.sentence for d in items[:5]) + (f" And {count - 5} more." if count > 5 else ""),
            ts=now,
            company_name=company.name,
            link=link,
            details={
                "devices": [
                    {
                        "serial": d.device.serial,
                        "model": d.device.model,
                        "kind": d.kind,
                        "term_end": d.term_end.isoformat(),
                    }
                    for d in items
                ]
            },
        )

        def digest(unsubscribe: str, items=items, subject=subject) -> dict:
            text = render_email(
                "email/renewal.txt",
                company=company,
                items=items,
                subject=subject,
                link=link,
                unsubscribe_url=unsubscribe,
            )
            return {"subject": subject, "text": text}

        fan_out(company.id, alert, now=now, extra_emails=_admins(company.id), email_for=digest)


def reseller_dues(device: Device, coverage: Coverage | None, variables: dict, today: date) -> list[Due]:
    horizon = add_months(today, RESELLER_MONTHS_AHEAD)
    known = device_dates(
        model=device.model, variables=variables, battery_installed_on=device.battery_installed_on,
        battery_warranty_ends_on=device.battery_warranty_ends_on, warranty_ends_on=device.warranty_ends_on,
        registered_on=registered_on(device.trial_started_on, device.claimed_at),
    )
    dates = {
        "reseller_3m_plan": coverage.end if coverage else None,
        "reseller_3m_battery": known.battery_replace_by,
        "reseller_3m_battery_eol": known.battery_warranty_ends_on,
        "reseller_3m_warranty": known.warranty_ends_on,
    }
    dues = []
    for kind, day in dates.items():
        if day is not None and today <= day <= horizon:
            dues.append(
                Due(device, kind, day, "renewal_due", "informational", f"{RESELLER_KINDS[kind]}: {_fmt(day)}")
            )
    return dues


def _reseller_recipients(support: RenewalSupport) -> list[str]:
    if support.reseller_company_id:
        return [
            u.email
            for u in db.session.scalars(
                select(User).where(User.company_id == support.reseller_company_id).order_by(User.id)
            )
        ]
    return [support.reseller_email]


def run_renewals(*, today: date, now: datetime) -> RenewalRun:
    """Raise every notice that is due today and was not raised before; the caller commits."""
    from portal.services.partners import renewal_support

    renewal_support.expire_invites(now)
    result = RenewalRun()
    devices = {
        d.id: d for d in db.session.scalars(select(Device).where(Device.owner_company_id.is_not(None)))
    }
    segments = _segments(None, today - TRIAL_ENDED_GRACE)
    new_by_company: dict[int, list[Due]] = defaultdict(list)
    for device_id, rows in segments.items():
        device = devices.get(device_id)
        if device is None:
            continue
        for due in customer_dues(device, rows, today):
            if _record(due, device.owner_company_id, now):
                new_by_company[device.owner_company_id].append(due)
    for company_id, dues in new_by_company.items():
        _notify_customer(db.session.get(Company, company_id), dues, now)
        result.customer += len(dues)

    supports = db.session.scalars(select(RenewalSupport).where(RenewalSupport.status == "accepted")).all()
    for support in supports:
        company_devices = [d for d in devices.values() if d.owner_company_id == support.customer_company_id]
        if not company_devices:
            continue
        variables = {
            s.device_id: s.variables or {}
            for s in db.session.scalars(
                select(DeviceStatus).where(DeviceStatus.device_id.in_([d.id for d in company_devices]))
            )
        }
        fresh: list[Due] = []
        for device in sorted(company_devices, key=lambda d: d.serial):
            coverage = coverage_on(segments.get(device.id, []), today)
            for due in reseller_dues(device, coverage, variables.get(device.id, {}), today):
                if _record(due, support.customer_company_id, now):
                    fresh.append(due)
        if not fresh:
            continue
        result.reseller += len(fresh)
        customer = db.session.get(Company, support.customer_company_id)
        subject = f"Renewal Support: {customer.name} has {len(fresh)} lifecycle need{'s' if len(fresh) != 1 else ''} in the next 3 months"
        for address in _reseller_recipients(support):
            if is_unsubscribed(customer.id, "reseller", address):
                continue
            text = render_email(
                "email/reseller_lifecycle.txt",
                customer=customer,
                items=fresh,
                kinds=RESELLER_KINDS,
                subject=subject,
                unsubscribe_url=unsubscribe_url(address, customer.id, "reseller"),
                link=public_url("/partner/shared"),
            )
            enqueue(customer.id, "email", address, subject, {"text": text}, event_type="renewal_due", now=now)
    db.session.flush()
    return result

