"""Renewal Support: a customer invites its preferred reseller; the reseller accepts or declines; either ends it."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.forms.renewal_support import InviteResellerForm
from portal.services.alerts.reseller_invite import queue_reseller_invite
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.partners import renewal_support
from portal.views.helpers import attach_error, id_or_404

bp = Blueprint("renewal_support", __name__, url_prefix="/renewal-support")
PAGE = "renewal_support/index.html"


def _page(form: InviteResellerForm, status: int = 200):
    now = clock().now()
    context = {
        "form": form,
        "current": renewal_support.current_for_customer(current_user, now),
        "history": renewal_support.history_for_customer(current_user, now),
        "incoming": renewal_support.invites_for_reseller(current_user, now),
        "status_text": lambda support: renewal_support.status_text(support, now),
        "status_of": lambda support: renewal_support.status_of(support, now),
        "customer_name": renewal_support.customer_name,
    }
    return render_template(PAGE, **context), status


@bp.get("")
@login_required
def index():
    """Renewal Support: the customer's invitation to a reseller, or the reseller's customers."""
    return _page(InviteResellerForm())


@bp.post("/invite")
@login_required
def invite():
    """Invite a reseller to receive this company's renewal notices."""
    form = InviteResellerForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    now = clock().now()
    try:
        sent = renewal_support.invite(current_user, form.email.data or "", now=now)
        queue_reseller_invite(sent.support, sent.token, now=now)
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _page(form, 422)
    db.session.commit()
    flash(f"Invite sent to {sent.support.reseller_email}. It expires in 7 days.", "success")
    return redirect(url_for("renewal_support.index")), 303


@bp.get("/invite/<token>")
@login_required
def open_invite(token: str):
    """A reseller opens an invitation link."""
    try:
        support = renewal_support.invite_by_token(current_user, token)
    except NotFound as error:
        abort(404, error.message)
    return render_template(
        "renewal_support/invite.html",
        support=support,
        status=renewal_support.status_of(support, clock().now()),
        customer_name=renewal_support.customer_name(support),
    )


def _act(action, message: str):
    support_id = id_or_404(request.form.get("support"), renewal_support.NOT_FOUND)
    try:
        action(current_user, support_id, now=clock().now())
    except NotFound:
        abort(404, renewal_support.NOT_FOUND)
    except DomainError as error:
        db.session.rollback()
        renewal_support.expire_invites(clock().now())  # an invite refused for its age is marked so
        db.session.commit()
        flash(error.message, "error")
        return redirect(url_for("renewal_support.index")), 303
    db.session.commit()
    flash(message, "info")
    return redirect(url_for("renewal_support.index")), 303


@bp.post("/accept")
@login_required
def accept():
    """The reseller accepts an invitation."""
    return _act(
        lambda user, sid, now: renewal_support.respond(user, sid, True, now=now),
        "Renewal Support accepted: you will receive lifecycle notices 3 months ahead.",
    )


@bp.post("/decline")
@login_required
def decline():
    """The reseller declines an invitation."""
    return _act(
        lambda user, sid, now: renewal_support.respond(user, sid, False, now=now),
        "Invite declined.",
    )


@bp.post("/end")
@login_required
def end():
    """The customer ends Renewal Support."""
    return _act(renewal_support.end_as_customer, "Renewal Support ended.")


@bp.post("/leave")
@login_required
def leave():
    """The reseller stops receiving a customer's notices."""
    return _act(renewal_support.end_as_reseller, "Renewal Support ended.")
