"""Sharing: the owner shares a device by email; the recipient accepts with the emailed code; either revokes."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx, limiter
from portal.forms.sharing import AcceptShareForm, ShareForm
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.outbox.links import public_url
from portal.services.partners import sharing
from portal.views.helpers import attach_error, id_or_404

bp = Blueprint("sharing", __name__)


def _code_limit() -> str:
    return current_app.config["CODE_RATE_LIMIT"]


def _per_user() -> str:
    return f"user:{current_user.get_id()}"


def _owned_device_or_404(device_id: int):
    try:
        return sharing.device_for_owner(current_user, device_id)
    except NotFound:
        abort(404, "No such device in your account.")


def _device_page(device, form: ShareForm, status: int = 200):
    context = {
        "device": device,
        "form": form,
        "shares": sharing.live_shares(device),
        "max_shares": sharing.MAX_SHARES,
    }
    if htmx:
        return render_block("sharing/device.html", "shares", **context), status
    return render_template("sharing/device.html", **context), status


@bp.get("/devices/<id:device_id>/sharing")
@login_required
def device_shares(device_id: int):
    """Who a device is shared with (owners only)."""
    return _device_page(_owned_device_or_404(device_id), ShareForm())


@bp.post("/devices/<id:device_id>/sharing")
@login_required
def share(device_id: int):
    """Share a device with a partner or co-owner by email."""
    device = _owned_device_or_404(device_id)
    form = ShareForm()
    if not form.validate_on_submit():
        return _device_page(device, form, 422)
    lab_clock = clock()
    try:
        sent = sharing.share_device(
            current_user,
            device,
            form.email.data or "",
            today=lab_clock.today(),
            now=lab_clock.now(),
            accept_url=public_url(url_for("sharing.index")),
        )
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _device_page(device, form, 422)
    db.session.commit()
    flash(
        f"Shared with {sent.share.email}. We are emailing them the confirmation code to accept with.",
        "success",
    )
    return redirect(url_for("sharing.device_shares", device_id=device.id)), 303


def _share_id() -> int:
    return id_or_404(request.form.get("share"), sharing.SHARE_NOT_FOUND)


@bp.post("/devices/<id:device_id>/sharing/revoke")
@login_required
def revoke_owner(device_id: int):
    """The owner ends a share."""
    device = _owned_device_or_404(device_id)
    share_id = _share_id()
    try:
        share = sharing.revoke_as_owner(current_user, device, share_id, now=clock().now())
    except NotFound:
        abort(404, sharing.SHARE_NOT_FOUND)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("sharing.device_shares", device_id=device.id)), 303
    db.session.commit()
    if htmx:
        return _device_page(device, ShareForm())
    flash(f"Sharing with {share.email} ended.", "info")
    return redirect(url_for("sharing.device_shares", device_id=device.id)), 303


def _inbox(form: AcceptShareForm, status: int = 200):
    pending, active = sharing.incoming_shares(current_user)
    return render_template("sharing/index.html", form=form, pending=pending, active=active), status


@bp.get("/sharing")
@login_required
def index():
    """Sharing: shares the company gave and received, and pending invitations."""
    return _inbox(AcceptShareForm())


@bp.post("/sharing/accept")
@login_required
@limiter.limit(_code_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_per_user)
def accept():
    """Accept a share with its confirmation code."""
    form = AcceptShareForm()
    if not form.validate_on_submit():
        return _inbox(form, 422)
    try:
        share = sharing.accept_share(current_user, form.code.data or "", now=clock().now())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _inbox(form, 422)
    db.session.commit()
    where = "Shared With Me" if current_user.company.is_partner else "your dashboard"
    flash(
        f"{share.device.model} {share.device.serial} from {share.device.owner.name} is now shared with you; find it in {where}.",
        "success",
    )
    return redirect(url_for("sharing.index")), 303


@bp.post("/sharing/revoke")
@login_required
def revoke_recipient():
    """The recipient gives a shared device back."""
    share_id = _share_id()
    try:
        share = sharing.revoke_as_recipient(current_user, share_id, now=clock().now())
    except NotFound:
        abort(404, sharing.SHARE_NOT_FOUND)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("sharing.index")), 303
    db.session.commit()
    flash(f"{share.device.model} {share.device.serial} is no longer shared with you.", "info")
    return redirect(url_for("sharing.index")), 303
