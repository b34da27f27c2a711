"""Scheduled fleet actions: recurring self-tests and firmware rollouts in waves; each run is a bulk batch."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.device_link import publish_command
from portal.extensions import db
from portal.services.accounts import access
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.fleet import bulk_actions, schedules
from portal.services.fleet.occurrences import WEEKDAYS, parse_cadence
from portal.services.fleet.scheduled_runs import run_due
from portal.views.helpers import ids_or_404

bp = Blueprint("schedules", __name__)


def _devices_or_404(source):
    """The selected devices; one the user may not act on is a 404, as by URL, and nothing is stored."""
    try:
        return [access.device_for(current_user, device_id) for device_id in ids_or_404(source.getlist("device"), access.NOT_FOUND)]
    except NotFound:
        abort(404, access.NOT_FOUND)


def _schedule_or_404(schedule_id: int):
    try:
        return schedules.schedule_for(current_user, schedule_id)
    except NotFound:
        abort(404, schedules.SCHEDULE_NOT_FOUND)


def _page(status: int = 200, *, devices=(), error=None):
    template = "schedules/new.html" if devices else "schedules/index.html"
    return render_template(
        template, schedules=schedules.company_schedules(current_user), sites=schedules.sites(current_user),
        devices=devices, weekdays=WEEKDAYS, cadence_of=schedules.cadence_of, args=request.values, error=error, now=clock().now(),
        defaults={"wave_percent": schedules.DEFAULT_WAVE_PERCENT, "soak_hours": schedules.DEFAULT_SOAK_HOURS},
    ), status


@bp.get("/schedules/")
@login_required
def index():
    """The company's schedules and rollouts, with a form for a site's recurring self-test."""
    return _page()


@bp.get("/schedules/new")
@login_required
def new():
    """The schedule form for devices selected on the dashboard (from the bulk preview)."""
    devices = _devices_or_404(request.args)
    if not devices:
        return _page(422, error=schedules.ScheduleError("Select at least one device (tick it on the dashboard)."))
    if len(devices) > bulk_actions.MAX_DEVICES:
        return _page(422, error=schedules.ScheduleError(f"A schedule takes at most {bulk_actions.MAX_DEVICES} devices."))
    return _page(devices=devices)


@bp.post("/schedules/")
@login_required
def create():
    """A recurring self-test, or a firmware rollout whose first wave is sent now."""
    devices = _devices_or_404(request.form)
    form = request.form
    lab_clock = clock()
    try:
        target = schedules.parse_target(current_user, site=form.get("site", ""), devices=devices)
        if form.get("kind") == schedules.ROLLOUT:
            percent, soak = schedules.parse_rollout(wave_percent=form.get("wave_percent"), soak_hours=form.get("soak_hours"))
            schedule = schedules.create_rollout(current_user, target, wave_percent=percent, soak_hours=soak, now=lab_clock.now())
        else:
            cadence = parse_cadence(
                form.get("cadence", ""), hour=form.get("hour"), weekday=form.get("weekday"), day_of_month=form.get("day_of_month")
            )
            schedule = schedules.create_self_test(current_user, target, cadence, now=lab_clock.now())
    except DomainError as error:
        db.session.rollback()
        return _page(422, devices=devices, error=error)
    db.session.commit()
    if schedule.kind == schedules.ROLLOUT:
        run_due(now=lab_clock.now(), today=lab_clock.today(), publish=publish_command, schedule_id=schedule.id)
        flash("The rollout has started: its first wave is on its way.", "success")
    else:
        flash(f"Scheduled: {schedules.cadence_of(schedule).describe()}.", "success")
    return redirect(url_for("schedules.index")), 303


def _change(schedule_id: int, change, message: str):
    schedule = _schedule_or_404(schedule_id)
    try:
        change(schedule)
    except DomainError as error:
        db.session.rollback()
        return _page(409, error=error)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("schedules.index")), 303


@bp.post("/schedules/<id:schedule_id>/pause")
@login_required
def pause(schedule_id: int):
    """Stop a schedule (or a rollout) until it is resumed."""
    return _change(schedule_id, lambda schedule: schedules.pause(current_user, schedule), "Paused: nothing runs until you resume it.")


@bp.post("/schedules/<id:schedule_id>/resume")
@login_required
def resume(schedule_id: int):
    """Run again: at the next occurrence after now, or a rollout's next wave past the failures seen."""
    return _change(schedule_id, lambda schedule: schedules.resume(schedule, now=clock().now()), "Resumed.")


@bp.post("/schedules/<id:schedule_id>/delete")
@login_required
def delete(schedule_id: int):
    """A recurring schedule is deleted; a rollout is cancelled."""
    rollout = _schedule_or_404(schedule_id).kind == schedules.ROLLOUT
    message = "Cancelled: no further wave is sent." if rollout else "Deleted; its past runs stay on their batch pages."
    return _change(schedule_id, schedules.delete, message)
