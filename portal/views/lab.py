"""Lab-only pages: the movable clock and the lab console. Registered only when LAB_MODE is on."""

from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx, limiter
from portal.forms.lab import (
    QUICK_CHOICES,
    AddDevicesForm,
    RunForm,
    SelectionForm,
    SpeedForm,
    StopRunForm,
    TestForm,
)
from portal.rate_limits import setting, signed_in_account
from portal.services.clock import clock
from portal.services.errors import DomainError
from portal.services.lab import console as lab_console
from portal.services.lab.time_travel import move_lab_clock

LAB_ONLY = True
bp = Blueprint("lab", __name__, url_prefix="/lab")

STEPS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90), "365d": timedelta(days=365)}
BACK_TO = {"console": "lab.console", "clock": "lab.clock_page"}  # where a clock move returns; never a URL from the form


def lab_admin_required(view):
    """The console acts on the whole simulated fleet: lab administrators (company administrators in lab mode) only;
    for anyone else it does not exist (404), like a page outside lab mode."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return login_required(wrapped)


@bp.get("/clock")
@login_required
def clock_page():
    """The lab clock: business date and a form to move it forward."""
    lab_clock = clock()
    return render_template("lab/clock.html", now=lab_clock.now(), offset=lab_clock.offset(), steps=STEPS)


@bp.post("/clock")
@login_required
def move_clock():
    """Move the lab clock (and the simulated fleet with it) forward or back by the chosen number of days."""
    back = url_for(BACK_TO.get(request.form.get("back_to", ""), "lab.clock_page"))
    action = request.form.get("action", "")
    if action == "reset":
        delta, message = None, "The lab clock is back to the real time."
    elif action in STEPS:
        delta, message = STEPS[action], f"The lab clock moved forward {STEPS[action].days} days."
    elif request.form.get("days", "").strip():
        try:
            days = int(request.form["days"])
        except ValueError:
            flash("Enter a whole number of days, like 45 or -10.", "error")
            return redirect(back), 303
        if not -36600 <= days <= 36600:
            flash("Move the clock by at most 100 years at a time.", "error")
            return redirect(back), 303
        delta, message = timedelta(days=days), f"The lab clock moved {days:+d} days."
    else:
        flash("Choose how far to move the clock.", "error")
        return redirect(back), 303
    move = move_lab_clock(clock(), delta, lab_console.lab_control())
    db.session.commit()
    flash(" ".join(filter(None, [message, f"Today is now {clock().today():%d %b %Y}.", move.fleet_note])), "success")
    return redirect(back), 303


def _selection(form) -> list[str] | None:
    """The chosen serials, or None for the whole fleet."""
    return None if form.scope.data == "all" else list(form.serials.data or [])


def _run_form() -> RunForm:
    form = RunForm()
    form.action.choices = QUICK_CHOICES
    return form


@bp.get("/console")
@lab_admin_required
def console():
    """The lab console: the simulated fleet at a glance, scenarios, tests, speed and the clock."""
    glance = lab_console.fleet_at_a_glance(lab_console.lab_control(), current_app.config["FACTORY_KEY"], clock().now())
    context = {
        "glance": glance, "now": clock().now(), "steps": STEPS, "add_form": AddDevicesForm(), "run_form": _run_form(),
        "test_form": TestForm(), "speed_form": SpeedForm(speed=str(int(glance.speed)) if glance.speed else "1"),
        "stop_form": StopRunForm(),
    }
    if htmx:
        return render_block("lab/console.html", "fleet_update", poll=True, **context)
    return render_template("lab/console.html", **context)


@bp.get("/console/devices/<serial>")
@lab_admin_required
def published(serial: str):
    """What one simulated device published last: its telemetry and recent events (the live panel)."""
    try:
        data, error = lab_console.live_panel(lab_console.lab_control(), serial), None
    except DomainError as failure:
        data, error = None, failure.message
    return render_template("lab/_published.html", serial=serial, data=data, error=error)


def _act(action, success) -> tuple:
    """Run one console action; a refusal becomes a message, never an error page."""
    try:
        result = action()
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(success(result), "success")
    return redirect(url_for("lab.console")), 303


def _refused(form) -> tuple:
    flash(" ".join(f"{getattr(form, name).label.text}: {error}" for name, errors in form.errors.items() for error in errors), "error")
    return redirect(url_for("lab.console")), 303


@bp.post("/console/devices")
@lab_admin_required
@limiter.limit(setting("LAB_ADD_RATE_LIMIT"), key_func=signed_in_account)
def add_devices():
    """Add simulated devices (model, count, seed) to the fleet; their claim codes are shown."""
    form = AddDevicesForm()
    if not form.validate_on_submit():
        return _refused(form)
    control = lab_console.lab_control()
    return _act(
        lambda: lab_console.add_devices(control, form.count.data, form.seed.data, form.model.data),
        lambda added: f"Added {len(added)} device{'s' if len(added) != 1 else ''}: "
        + "; ".join(f"{d['serial']} ({d['model']}) claim code {d['claim_code']}" for d in added),
    )


@bp.post("/console/devices/remove")
@lab_admin_required
def remove_devices():
    """Take the selected simulated devices out of the lab."""
    form = SelectionForm()
    if not form.validate_on_submit():
        return _refused(form)
    control = lab_console.lab_control()
    return _act(lambda: lab_console.remove_devices(control, list(form.serials.data or [])), lambda n: f"Removed {n} device{'s' if n != 1 else ''} from the lab.")


@bp.post("/console/runs")
@lab_admin_required
def start_run():
    """Start a quick action or a shipped scenario on the selected devices or the whole fleet."""
    form = RunForm()
    form.action.choices = QUICK_CHOICES
    if not form.validate_on_submit():
        return _refused(form)
    control = lab_console.lab_control()

    def number(field):
        return float(field.data) if field.data is not None else None

    return _act(
        lambda: lab_console.start_action(
            control, form.action.data or "", _selection(form), years=number(form.years), temp_c=number(form.temp_c), minutes=number(form.minutes)
        ),
        lambda run: f"Started “{run['name']}” on {len(run['serials'])} device{'s' if len(run['serials']) != 1 else ''}.",
    )


@bp.post("/console/runs/<int:run_id>/stop")
@lab_admin_required
def stop_run(run_id: int):
    """Stop a running scenario: its power problems and heat end now, its pending changes are dropped."""
    if not StopRunForm().validate_on_submit():
        abort(400)
    control = lab_console.lab_control()
    return _act(lambda: lab_console.stop_run(control, run_id), lambda run: f"Stopped “{run['name']}”.")


@bp.post("/console/tests")
@lab_admin_required
def run_tests():
    """Press self-test or calibration on the selected devices' displays."""
    form = TestForm()
    if not form.validate_on_submit():
        return _refused(form)
    control = lab_console.lab_control()
    serials = _selection(form)

    def run():
        chosen = serials if serials is not None else [d["serial"] for d in control.devices()]
        return lab_console.run_tests(control, chosen, form.test.data)

    return _act(run, lambda answers: " ".join(f"{serial}: {message}." for serial, message in answers))


@bp.post("/console/speed")
@lab_admin_required
def set_speed():
    """Change the fleet's speed factor (simulated seconds per real second)."""
    form = SpeedForm()
    if not form.validate_on_submit():
        return _refused(form)
    control = lab_console.lab_control()
    speed = float(form.speed.data)
    return _act(lambda: lab_console.set_speed(control, speed), lambda _: f"The fleet now runs at ×{speed:g}.")
