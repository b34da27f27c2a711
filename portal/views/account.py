"""Your account's security: change the password, turn two-factor sign-in on or off."""

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from portal.auth_session import current_session_token
from portal.extensions import db, limiter
from portal.forms.accounts import ChangePasswordForm, DisableTwoFactorForm, TwoFactorForm
from portal.rate_limits import failed, setting, signed_in_account
from portal.services.accounts import two_factor, users
from portal.services.clock import utcnow
from portal.services.errors import AccountError
from portal.views.helpers import attach_error

bp = Blueprint("account", __name__, url_prefix="/account")

# The secret being set up lives in the signed session cookie until a code confirms it.
ENROLMENT_KEY = "two_factor_enrolment"


def _security_page(password_form=None, disable_form=None, status: int = 200):
    return render_template(
        "account/security.html",
        password_form=password_form or ChangePasswordForm(formdata=None),
        disable_form=disable_form or DisableTwoFactorForm(formdata=None),
        recovery_codes_left=two_factor.recovery_codes_left(current_user),
    ), status


@bp.get("/security")
@login_required
def security():
    """Password and two-factor sign-in settings."""
    return _security_page()


@bp.post("/password")
@login_required
@limiter.limit(setting("LOGIN_RATE_LIMIT"), key_func=signed_in_account, deduct_when=failed)
def change_password():
    """Change the password (the current one is asked); every other session is signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            ended = users.change_password(
                current_user, form.current_password.data, form.password.data, keep_session=current_session_token()
            )
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
            flash(f"Your password is changed.{others}", "success")
            return redirect(url_for("account.security"))
    return _security_page(password_form=form, status=422)


def _enrolment_page(form, status: int = 200):
    secret = session.get(ENROLMENT_KEY, "")
    return render_template(
        "account/two_factor_enrol.html", form=form, enrolment=two_factor.enrolment(current_user, secret)
    ), status


@bp.get("/two-factor")
@login_required
def two_factor_enrol():
    """Set up two-factor sign-in: scan the QR code, then confirm with a code."""
    if current_user.two_factor_enabled:
        return redirect(url_for("account.security"))
    session[ENROLMENT_KEY] = two_factor.new_secret()
    return _enrolment_page(TwoFactorForm(formdata=None))


@bp.post("/two-factor")
@login_required
@limiter.limit(setting("LOGIN_RATE_LIMIT"), key_func=signed_in_account, deduct_when=failed)
def two_factor_confirm():
    """Turn two-factor sign-in on with a code from the app; show the recovery codes once."""
    form = TwoFactorForm()
    if not session.get(ENROLMENT_KEY):
        return redirect(url_for("account.two_factor_enrol"))
    if form.validate_on_submit():
        try:
            codes = two_factor.enable(current_user, session[ENROLMENT_KEY], form.code.data, now=utcnow())
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            session.pop(ENROLMENT_KEY, None)
            return render_template("account/recovery_codes.html", codes=codes)
    return _enrolment_page(form, 422)


@bp.post("/two-factor/disable")
@login_required
@limiter.limit(setting("LOGIN_RATE_LIMIT"), key_func=signed_in_account, deduct_when=failed)
def two_factor_disable():
    """Turn two-factor sign-in off (the password is asked again)."""
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(current_user, form.password.data)
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash("Two-factor sign-in is off.", "info")
            return redirect(url_for("account.security"))
    return _security_page(disable_form=form, status=422)
