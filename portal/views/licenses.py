"""Licenses: Verify Activation Code."""

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from portal.extensions import limiter
from portal.forms.licenses import VerifyCodeForm
from portal.services.clock import clock
from portal.services.errors import LicensingError
from portal.services.licensing import entitlements
from portal.views.helpers import attach_error

bp = Blueprint("licenses", __name__, url_prefix="/licenses")


def _code_limit() -> str:
    return current_app.config["CODE_RATE_LIMIT"]


def _per_user() -> str:
    # Guessing is limited per account as well as per address, so many addresses do not help.
    return f"user:{current_user.get_id()}"


@bp.route("/verify", methods=["GET", "POST"])
@login_required
@limiter.limit(_code_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_per_user)
def verify():
    """Verify an activation code: its product, quantity and what is left."""
    form = VerifyCodeForm()
    summary = None
    if form.validate_on_submit():
        try:
            summary = entitlements.verify_code(form.code.data or "", today=clock().today())
        except LicensingError as error:
            attach_error(form, error)
    status = 422 if form.is_submitted() and summary is None else 200
    return render_template("licenses/verify.html", form=form, summary=summary), status
