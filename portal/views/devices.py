"""Devices: claim one, its page, remote commands and removal."""

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block, render_blocks

from devicelink.provisioning import factory_key_from_env
from portal.device_link import publish_command
from portal.extensions import db, htmx, limiter
from portal.forms.battery import ReplacementForm
from portal.forms.devices import ClaimForm
from portal.services.accounts import access
from portal.services.battery import insight as battery_insight
from portal.services.battery import replacements, transfers_query, why
from portal.services.battery.transfers import PERIODS_DAYS, sensitivity_advice
from portal.services.clock import clock, utcnow
from portal.services.errors import DomainError, NotFound
from portal.services.fleet import claiming, commands, device_history, device_page
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, why_not
from portal.views.helpers import attach_error

bp = Blueprint("devices", __name__)


def _claim_limit() -> str:
    return current_app.config["CLAIM_RATE_LIMIT"]


def _per_user() -> str:
    return f"user:{current_user.get_id()}"


def _device_or_404(device_id: int):
    try:
        return access.device_for(current_user, device_id)
    except NotFound:
        abort(404, access.NOT_FOUND)


@bp.route("/devices/claim", methods=["GET", "POST"])
@login_required
@limiter.limit(_claim_limit, methods=["POST"])
@limiter.limit(_claim_limit, methods=["POST"], key_func=_per_user)
def claim():
    # A QR code on the LCD carries ?serial=...&code=...: it fills the form, the user still confirms.
    """Register a device with its serial and the code on its display."""
    form = ClaimForm(data={"serial": request.args.get("serial", ""), "code": request.args.get("code", "")})
    if form.validate_on_submit():
        lab_clock = clock()
        try:
            result = claiming.claim_device(
                current_user,
                form.serial.data or "",
                form.code.data or "",
                factory_key=factory_key_from_env(current_app.config["FACTORY_KEY"]),
                today=lab_clock.today(),
                now=lab_clock.now(),
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(
                f"{result.device.model} {result.device.serial} is now registered to {current_user.company.name}. "
                f"{result.plan_words}",
                "success",
            )
            return redirect(url_for("devices.show", device_id=result.device.id))
    status = 422 if form.is_submitted() else 200
    return render_template("devices/claim.html", form=form), status


def _context(device, **extra) -> dict:
    """What every part of the device page renders from: business dates on the lab clock, liveness on the real one."""
    lab_clock = clock()
    view = device_page.build(
        current_user,
        device,
        today=lab_clock.today(),
        now=utcnow(),
        stale_after_s=current_app.config["STALE_AFTER_S"],
    )
    events = device_history.event_log(
        device, severity=request.args.get("severity", ""), fallback_end=lab_clock.now()
    )
    why_period = why.period(request.args.get("why_days"), now=lab_clock.now())
    why_summary = transfers_query.device_summary(device, start=why_period.start, end=why_period.end)
    return {
        "view": view,
        "why": why_period,
        "why_summary": why_summary,
        "why_advice": sensitivity_advice(why_summary, view.sensitivity),
        "why_action": next((a for a in view.actions if a.type == "input.sensitivity"), None),
        "why_periods": PERIODS_DAYS,
        "battery": battery_insight.device_battery(
            device, view.vars, alert_below=current_app.config["BATTERY_HEALTH_ALERT_PERCENT"] / 100.0
        ),
        "events": events,
        "severities": device_history.SEVERITIES,
        "ranges": device_history.RANGES,
        "default_range": device_history.DEFAULT_RANGE,
        "confirm_group": None,
        "replacement_form": ReplacementForm(formdata=None),
        **extra,
    }


def _page_or_block(device, block: str, status: int = 200, **extra):
    context = _context(device, **extra)
    if htmx and not htmx.boosted:
        return render_block("devices/show.html", block, **context), status
    return render_template("devices/show.html", **context), status if status != 286 else 200


@bp.get("/devices/<id:device_id>")
@login_required
def show(device_id: int):
    """A device's page: live status, charts, event log, commands and timeline."""
    return render_template("devices/show.html", **_context(_device_or_404(device_id)))


@bp.get("/devices/<id:device_id>/live")
@login_required
def live_status(device_id: int):
    """The live status region, polled every few seconds, with the firmware line swapped out of band."""
    device = _device_or_404(device_id)
    if htmx and not htmx.boosted:
        return render_blocks("devices/show.html", ["live_status", "firmware_line"], oob=True, **_context(device))
    return render_template("devices/show.html", **_context(device))


@bp.get("/devices/<id:device_id>/command-log")
@login_required
def command_log(device_id: int):
    """The command log; answers 286 (htmx: stop polling) once no command is under way."""
    device = _device_or_404(device_id)
    context = _context(device)
    status = 200 if context["view"].open_commands else 286
    if htmx and not htmx.boosted:
        return render_block("devices/show.html", "command_log", **context), status
    return render_template("devices/show.html", **context)


@bp.get("/devices/<id:device_id>/events")
@login_required
def events(device_id: int):
    """The event log, filtered by severity."""
    return _page_or_block(_device_or_404(device_id), "event_log")


@bp.get("/devices/<id:device_id>/history.json")
@login_required
def history(device_id: int):
    """Chart series for one range (1h, 24h, 7d, 30d), uPlot-ready."""
    device = _device_or_404(device_id)
    reason = why_not(entitlements.current_plan(device, clock().today()), Feature.HEALTH_VALUES)
    if reason:
        return jsonify({"error": reason}), 403
    data = device_history.history(
        device,
        request.args.get("range", device_history.DEFAULT_RANGE),
        fallback_end=clock().now(),
        bucket_seconds=current_app.config["TELEMETRY_BUCKET_S"],
    )
    return jsonify(data)


@bp.get("/devices/<id:device_id>/outlet-reboot")
@login_required
def confirm_reboot(device_id: int):
    """The confirmation step before an outlet group is power-cycled."""
    device = _device_or_404(device_id)
    group = request.args.get("group", "")
    if group not in (device.outlet_groups or [])[1:]:
        abort(404)
    return _page_or_block(device, "actions", confirm_group=group)


@bp.post("/devices/<id:device_id>/commands")
@login_required
def send_command(device_id: int):
    """Send a remote command the device's plan allows."""
    device = _device_or_404(device_id)
    args = {key: value for key, value in request.form.items() if key not in {"csrf_token", "type"}}
    lab_clock = clock()
    try:
        command = commands.issue_command(
            current_user,
            device,
            request.form.get("type", ""),
            args,
            publish=publish_command,
            today=lab_clock.today(),
            now=lab_clock.now(),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(
            f"{command.type} sent." if command.status == "sent" else command.message,
            "success" if command.status == "sent" else "error",
        )
    return redirect(url_for("devices.show", device_id=device.id)), 303


@bp.post("/devices/<id:device_id>/remove")
@login_required
def remove(device_id: int):
    """Remove a device from the owner's company (owners only)."""
    device = _device_or_404(device_id)
    try:
        claiming.remove_device(current_user, device, now=clock().now())
    except NotFound:
        abort(404, access.NOT_FOUND)
    db.session.commit()
    flash(
        f"{device.serial} was removed from your account. Its history is kept; registering it again gives no new trial.",
        "info",
    )
    return redirect(url_for("dashboard.index")), 303


@bp.post("/devices/<id:device_id>/battery-replacements")
@login_required
def record_battery_replacement(device_id: int):
    """Record a battery replacement in the device's logbook (owner, co-workers, partners with a share)."""
    device = _device_or_404(device_id)
    form = ReplacementForm()
    if form.validate_on_submit():
        lab_clock = clock()
        try:
            row = replacements.record_replacement(
                current_user,
                device,
                replaced_on=form.replaced_on.data,
                sku=form.sku.data or "",
                note=form.note.data or "",
                today=lab_clock.today(),
                now=lab_clock.now(),
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"Battery replacement with {row.sku} on {row.replaced_on.strftime('%d %b %Y')} recorded.", "success")
            return redirect(url_for("devices.show", device_id=device.id, _anchor="battery-logbook")), 303
    return render_template("devices/show.html", **_context(device, replacement_form=form)), 422
