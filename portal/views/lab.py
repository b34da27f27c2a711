"""Lab-only pages: the movable clock. Registered only when LAB_MODE is on."""

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from portal.extensions import db
from portal.services.clock import clock

LAB_ONLY = True
bp = Blueprint("lab", __name__, url_prefix="/lab")

STEPS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90), "365d": timedelta(days=365)}


@bp.get("/clock")
@login_required
def clock_page():
    """The lab clock: business date and a form to move it forward."""
    lab_clock = clock()
    return render_template("lab/clock.html", now=lab_clock.now(), offset=lab_clock.offset(), steps=STEPS)


@bp.post("/clock")
@login_required
def move_clock():
    """Move the lab clock forward by the chosen number of days."""
    lab_clock = clock()
    action = request.form.get("action", "")
    if action == "reset":
        lab_clock.reset()
        message = "The lab clock is back to the real time."
    elif action in STEPS:
        lab_clock.advance(STEPS[action])
        message = f"The lab clock moved forward {STEPS[action].days} days."
    elif request.form.get("days", "").strip():
        try:
            days = int(request.form["days"])
        except ValueError:
            flash("Enter a whole number of days, like 45 or -10.", "error")
            return redirect(url_for("lab.clock_page")), 303
        if not -36600 <= days <= 36600:
            flash("Move the clock by at most 100 years at a time.", "error")
            return redirect(url_for("lab.clock_page")), 303
        lab_clock.advance(timedelta(days=days))
        message = f"The lab clock moved {days:+d} days."
    else:
        flash("Choose how far to move the clock.", "error")
        return redirect(url_for("lab.clock_page")), 303
    db.session.commit()
    flash(message + f" Today is now {lab_clock.today():%d %b %Y}.", "success")
    return redirect(url_for("lab.clock_page")), 303
