"""Ownership transfer: the owner offers a device to another company, which accepts or declines on /transfers."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.forms.transfers import TransferForm
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.outbox.links import public_url
from portal.services.partners import ownership_transfer as transfers
from portal.views.helpers import attach_error, id_or_404

bp = Blueprint("transfers", __name__)


def _device_or_abort(device_id: int):
    try:
        return transfers.device_to_transfer(current_user, device_id)
    except NotFound as error:
        abort(404, error.message)
    except transfers.NotAdministrator as error:
        abort(403, error.message)


def _device_page(device, form: TransferForm, status: int = 200):
    now = clock().now()
    return render_template(
        "transfers/device.html", device=device, form=form, offer=transfers.live_offer(device, now),
        offer_days=transfers.OFFER_DAYS,
    ), status


@bp.get("/devices/<id:device_id>/transfer")
@login_required
def device_form(device_id: int):
    """Transfer ownership of a device to another company (owner's administrators only)."""
    return _device_page(_device_or_abort(device_id), TransferForm())


@bp.post("/devices/<id:device_id>/transfer")
@login_required
def offer(device_id: int):
    """Offer the device to the company of a user, by that user's email address."""
    device = _device_or_abort(device_id)
    form = TransferForm()
    if not form.validate_on_submit():
        return _device_page(device, form, 422)
    try:
        sent = transfers.offer_transfer(
            current_user, device, form.email.data or "", form.note.data or "",
            now=clock().now(), inbox_url=public_url(url_for("transfers.index")),
        )
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _device_page(device, form, 422)
    db.session.commit()
    flash(f"Offered to {sent.to_company.name} ({sent.to_email}). We are emailing them; "
          f"the offer is open until {sent.expires_at:%d %b %Y}.", "success")
    return redirect(url_for("transfers.device_form", device_id=device.id)), 303


def _transfer_id() -> int:
    return id_or_404(request.form.get("transfer"), transfers.TRANSFER_NOT_FOUND)


@bp.get("/transfers")
@login_required
def index():
    """Transfer offers to answer, offers sent, and the record of every transfer to or from the company."""
    now = clock().now()
    return render_template("transfers/index.html", inbox=transfers.inbox(current_user, now), now=now,
                           status_words=transfers.status_words)


def _answer(action, success: str, repeat: str, **kwargs):
    try:
        answer = action(current_user, _transfer_id(), now=clock().now(), **kwargs)
    except NotFound as error:
        abort(404, error.message)
    except transfers.NotAdministrator as error:
        abort(403, error.message)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("transfers.index")), 303
    db.session.commit()
    transfer = answer.transfer
    flash((success if answer.changed else repeat).format(t=transfer), "success" if answer.changed else "info")
    if answer.changed and action is transfers.accept:
        return redirect(url_for("devices.show", device_id=transfer.device_id)), 303
    return redirect(url_for("transfers.index")), 303


@bp.post("/transfers/accept")
@login_required
def accept():
    """Accept a transfer offer: the device becomes the company's, with its licenses and history."""
    return _answer(
        transfers.accept,
        "{t.model} {t.serial} from {t.from_company.name} is now your company's. Its licenses and history came with it.",
        "{t.model} {t.serial} is already your company's: the offer was accepted before.",
        sender_url=public_url(url_for("transfers.index")),
    )


@bp.post("/transfers/decline")
@login_required
def decline():
    """Decline a transfer offer; the device stays with its owner."""
    return _answer(
        transfers.decline,
        "You declined {t.model} {t.serial} from {t.from_company.name}. We are letting them know.",
        "This offer was declined before.",
        sender_url=public_url(url_for("transfers.index")),
    )


@bp.post("/transfers/cancel")
@login_required
def cancel():
    """Withdraw a transfer offer the company sent while it is still waiting."""
    return _answer(
        transfers.cancel,
        "The offer of {t.model} {t.serial} to {t.to_company.name} is cancelled.",
        "This offer was cancelled before.",
    )
