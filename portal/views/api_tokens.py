"""Personal access tokens for the JSON API: list, create (the secret shown once) and revoke."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.forms.api_tokens import NewTokenForm, RevokeTokenForm
from portal.services.api import tokens
from portal.services.clock import utcnow
from portal.services.errors import DomainError, NotFound
from portal.views.helpers import attach_error

bp = Blueprint("api_tokens", __name__, url_prefix="/account/tokens")


def _page(form: NewTokenForm, status: int = 200, new: tokens.NewToken | None = None):
    return render_template(
        "account/tokens.html", form=form, rows=tokens.tokens_page(current_user), new=new,
        revoke_form=RevokeTokenForm(formdata=None),
    ), status


@bp.get("/")
@login_required
def index():
    """Your personal access tokens for the JSON API, and the form for a new one."""
    return _page(NewTokenForm(formdata=None))


@bp.post("/")
@login_required
def create():
    """Create a token and show its secret, once."""
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        new = tokens.create_token(current_user, form.name.data or "", form.scopes.data or [], now=utcnow())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _page(form, 422)
    db.session.commit()
    return _page(NewTokenForm(formdata=None), 201, new)


@bp.post("/<id:token_id>/revoke")
@login_required
def revoke(token_id: int):
    """Revoke one of your tokens: its next call is refused."""
    if not RevokeTokenForm().validate_on_submit():
        abort(400)
    try:
        token = tokens.revoke_token(current_user, token_id, now=utcnow())
    except NotFound as error:
        db.session.rollback()
        abort(404, error.message)
    db.session.commit()
    flash(f"The token “{token.name}” is revoked. Tools that used it can no longer call the API.", "success")
    return redirect(url_for("api_tokens.index")), 303
