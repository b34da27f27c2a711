"""The dashboard: fleet tiles, banners and the device table, refreshed through partials."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_blocks

from portal.extensions import htmx
from portal.services.clock import clock, utcnow
from portal.services.fleet import bulk_actions, overview

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def home():
    """Send a signed-in user to the dashboard, anyone else to sign-in."""
    return redirect(url_for("dashboard.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/dashboard")
@login_required
def index():
    """The fleet dashboard: tiles by operating mode, filters and one page of devices (the table partial for htmx)."""
    filters = overview.Filters.parse(request.args)
    # Business dates (plans, renewals) follow the lab clock; liveness follows the real one.
    view = overview.overview(
        current_user, filters, today=clock().today(), now=utcnow(), stale_after_s=current_app.config["STALE_AFTER_S"]
    )
    context = {
        "view": view, "filters": filters, "modes": overview.MODES, "plans": overview.PLANS,
        "bulk_actions": bulk_actions.ACTIONS, "sensitivities": sorted(bulk_actions.SENSITIVITIES),
    }
    if htmx and not htmx.boosted:
        return render_blocks("dashboard/index.html", ["device_table", "tiles"], oob=True, **context)
    return render_template("dashboard/index.html", **context)
