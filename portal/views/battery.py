"""Battery health across the fleet: the devices a user's reports cover, weakest measured battery first."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from portal.services.battery import insight, transfers_query, why
from portal.services.battery.transfers import PERIODS_DAYS
from portal.services.clock import clock
from portal.services.reports import my_reports
from portal.views.helpers import customer_filter

bp = Blueprint("battery", __name__)



@bp.get("/battery")
@login_required
def fleet():
    """Battery health of every device (measured health, predicted and age-based replace-by dates) and, per site,
    why devices went to battery over the chosen period."""
    customer_id = customer_filter()
    why_period = why.period(request.args.get("why_days"), now=clock().now())
    return render_template(
        "battery/index.html",
        rows=insight.fleet_battery(
            current_user,
            customer_id=customer_id,
            alert_below=current_app.config["BATTERY_HEALTH_ALERT_PERCENT"] / 100.0,
        ),
        customers=my_reports.customers(current_user),
        customer_id=customer_id,
        today=clock().today(),
        why=why_period,
        why_periods=PERIODS_DAYS,
        sites=transfers_query.site_summaries(
            current_user, start=why_period.start, end=why_period.end, customer_id=customer_id
        ),
    )
