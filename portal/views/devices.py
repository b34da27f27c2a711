"""Devices: claim one, its page, remote commands and removal."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from devicelink.provisioning import factory_key_from_env
from portal.device_link import publish_command
from portal.extensions import db, limiter
from portal.forms.devices import ClaimForm
from portal.services import access, claiming, commands, device_page
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
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
    form = ClaimForm(data={"serial": request.args.get("serial", ""), "code": request.args.get("code", "")})
    if form.validate_on_submit():
        lab_clock = clock()
        try:
            result = claiming.claim_device(
                current_user, form.serial.data or "", form.code.data or "",
                factory_key=factory_key_from_env(current_app.config["FACTORY_KEY"]), today=lab_clock.today(), now=lab_clock.now(),
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            trial = " Its 6-month Standard trial has started." if result.trial_granted else " This serial had its trial before, so it starts on the Basic plan."
            flash(f"{result.device.model} {result.device.serial} is now registered to {current_user.company.name}.{trial}", "success")
            return redirect(url_for("devices.show", device_id=result.device.id))
    status = 422 if form.is_submitted() else 200
    return render_template("devices/claim.html", form=form), status


@bp.get("/devices/<int:device_id>")
@login_required
def show(device_id: int):
    device = _device_or_404(device_id)
    lab_clock = clock()
    commands.expire_overdue(lab_clock.now(), device.id)
    db.session.commit()
    view = device_page.build(
        current_user, device, today=lab_clock.today(), now=lab_clock.now(), stale_after_s=current_app.config["STALE_AFTER_S"]
    )
    return render_template("devices/show.html", view=view)


@bp.post("/devices/<int:device_id>/commands")
@login_required
def send_command(device_id: int):
    device = _device_or_404(device_id)
    args = {key: value for key, value in request.form.items() if key not in {"csrf_token", "type"}}
    lab_clock = clock()
    try:
        command = commands.issue_command(
            current_user, device, request.form.get("type", ""), args, publish=publish_command, today=lab_clock.today(), now=lab_clock.now()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{command.type} sent." if command.status == "sent" else command.message, "success" if command.status == "sent" else "error")
    return redirect(url_for("devices.show", device_id=device.id)), 303


@bp.post("/devices/<int:device_id>/remove")
@login_required
def remove(device_id: int):
    device = _device_or_404(device_id)
    try:
        claiming.remove_device(current_user, device, now=clock().now())
    except NotFound:
        abort(404, access.NOT_FOUND)
    db.session.commit()
    flash(f"{device.serial} was removed from your account. Its history is kept; registering it again gives no new trial.", "info")
    return redirect(url_for("dashboard.index")), 303
