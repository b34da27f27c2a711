"""One-click unsubscribe from notification emails: works signed out; the signed token is the proof."""

from flask import Blueprint, abort, render_template

from portal.extensions import db
from portal.services.alerts import unsubscribe as opt_out
from portal.services.clock import clock
from portal.services.errors import NotFound

bp = Blueprint("unsubscribe", __name__)


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    """Ask before unsubscribing an address from a company's alerts."""
    try:
        email, company_id, scope = opt_out.read_unsubscribe_token(token)
    except NotFound as error:
        abort(404, error.message)
    what = opt_out.scope_label(company_id, scope)
    already = opt_out.is_unsubscribed(company_id, scope, email)
    return render_template(
        "notifications/unsubscribe.html", token=token, email=email, what=what, done=already
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    # No sign-in: the token, signed with the portal's secret, names the address. CSRF stays on.
    """Unsubscribe an address from a company's alerts or notices."""
    try:
        email, what = opt_out.unsubscribe(token, now=clock().now())
    except NotFound as error:
        db.session.rollback()
        abort(404, error.message)
    db.session.commit()
    return render_template("notifications/unsubscribe.html", token=token, email=email, what=what, done=True)
