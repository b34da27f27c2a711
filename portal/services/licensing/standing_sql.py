"""The SQL form of `subscription_timeline.standing_on`, over the stored segments, for queries over a whole fleet.

`entitlements.refresh_segments` stores each device's timeline as rows whenever its entitlements change; these
expressions read those rows for one day across a whole fleet. The dashboard reads the standing stored on each
device row instead (`stored_standing`); the migration that added it fills it the way these read.
`tests/portal/test_standing_sql.py` checks they agree with `standing_on` day by day.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from portal.models import Device, Entitlement, SubscriptionSegment
from portal.services.licensing.plans import Plan


def plan_today(today: date) -> ColumnElement[str]:
    """The plan key running on `today` (Basic when no segment covers it): `Standing.plan`."""
    running = (
        select(SubscriptionSegment.plan)
        .where(SubscriptionSegment.device_id == Device.id, SubscriptionSegment.start <= today, SubscriptionSegment.end > today)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(running, Plan.BASIC.key)


def term_end() -> ColumnElement[date]:
    """When the device's paid or trial time runs out (the end of its last segment): `paid_through`."""
    return select(func.max(SubscriptionSegment.end)).where(SubscriptionSegment.device_id == Device.id).scalar_subquery()


def on_trial(today: date) -> ColumnElement[bool]:
    """Whether the segment running on `today` is the trial: `Standing.on_trial`."""
    return (
        select(func.count(SubscriptionSegment.id))
        .join(Entitlement, Entitlement.id == SubscriptionSegment.entitlement_id)
        .where(
            SubscriptionSegment.device_id == Device.id,
            SubscriptionSegment.start <= today,
            SubscriptionSegment.end > today,
            Entitlement.source == "trial",
        )
        .scalar_subquery()
        > 0
    )
