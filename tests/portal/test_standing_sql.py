"""The dashboard's SQL for "plan today, on trial, term end" agrees with `standing_on`, the one rule, day by day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import CompanyKind, Device, OrderChannel
from portal.services.licensing import entitlements, standing_sql
from portal.services.licensing.subscription_timeline import paid_through
from tests.portal.factories import make_device, make_user, share

NOW = datetime(2026, 1, 10, 12, 0)
START = date(2026, 1, 10)


def _assign(partner, device, sku: str, on: date) -> None:
    code = entitlements.place_order(
        ordered_by=partner, channel=OrderChannel.PARTNER, sku=sku, quantity=1, installer_email="installer@partner.example",
        po_number="PO-1", customer_name="Acme", today=on, now=NOW,
    )
    entitlements.assign_from_code(partner, code.code, [device], today=on, now=NOW)


def test_sql_and_python_agree_on_plan_trial_and_term_end(app):
    owner = make_user()
    partner = make_user(CompanyKind.PARTNER)
    trial_only = make_device(owner)
    entitlements.start_trial(trial_only, today=START, now=NOW)
    upgraded = make_device(owner)  # trial, then Advanced mid-trial: the trial's rest resumes after it
    entitlements.start_trial(upgraded, today=START, now=NOW)
    stacked = make_device(owner)  # no trial (seen before), two Standard years stacked
    nothing = make_device(owner)  # Basic all along
    db.session.commit()
    for device in (upgraded, stacked):
        share(device, partner)
    _assign(partner, upgraded, "SCADV1Y", START + timedelta(days=40))
    _assign(partner, stacked, "SCSTD1Y", START)
    _assign(partner, stacked, "SCSTD1Y", START)
    db.session.commit()

    for offset in (-1, 0, 39, 40, 41, 180, 405, 406, 500, 730, 731, 900):
        day = START + timedelta(days=offset)
        rows = db.session.execute(
            select(Device.id, standing_sql.plan_today(day), standing_sql.on_trial(day), standing_sql.term_end())
        ).all()
        by_id = {row[0]: row[1:] for row in rows}
        for device in (trial_only, upgraded, stacked, nothing):
            standing = entitlements.device_standing(device, day)
            plan, on_trial, term_end = by_id[device.id]
            assert (plan, bool(on_trial)) == (standing.plan.key, standing.on_trial), (device.serial, day)
            assert term_end == paid_through(entitlements.device_timeline(device)), (device.serial, day)
