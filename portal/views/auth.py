"""Sign up, sign in (with a two-factor code when the user turned it on), sign out."""

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from portal.auth_session import sign_in, sign_out
from portal.extensions import db, limiter
from portal.forms.accounts import SignInForm, SignUpForm, TwoFactorForm
from portal.models import CompanyKind, User
from portal.rate_limits import (
    PENDING_TWO_FACTOR_KEY,
    failed,
    pending_two_factor_account,
    setting,
    sign_in_account,
)
from portal.services.accounts import two_factor, users
from portal.services.clock import utcnow
from portal.services.errors import AccountError
from portal.views.helpers import attach_error, safe_next

bp = Blueprint("auth", __name__)

# How long the password step stays good while the user finds their phone.
TWO_FACTOR_WINDOW_S = 300


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(setting("SIGNUP_RATE_LIMIT"), methods=["POST"])
def signup():
    """Create a company and its first user, then sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = users.sign_up(
                company_name=form.company_name.data, kind=CompanyKind(form.kind.data), country=form.country.data,
                city=form.city.data or "", phone=form.phone.data or "", user_name=form.user_name.data,
                email=form.email.data, password=form.password.data, now=utcnow(),
            )
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            sign_in(user)
            db.session.commit()
            flash(f"Welcome to upsconnect, {user.name}. Your company {user.company.name} is set up.", "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(setting("LOGIN_ADDRESS_RATE_LIMIT"), methods=["POST"], deduct_when=failed)
@limiter.limit(setting("LOGIN_RATE_LIMIT"), methods=["POST"], key_func=sign_in_account, deduct_when=failed)
def login():
    """Sign in with email and password (failures limited per account and, higher, per address)."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.email.data, form.password.data)
        except AccountError as error:
            attach_error(form, error)
        else:
            target = safe_next(request.args.get("next"))
            if user.two_factor_enabled:
                # The password was right; the session only remembers that, briefly, until the code comes.
                session.clear()
                session[PENDING_TWO_FACTOR_KEY] = {"user": user.id, "at": int(time.time()), "next": target}
                return redirect(url_for("auth.second_step"))
            sign_in(user)
            db.session.commit()
            return redirect(target)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


def _pending_user() -> User | None:
    pending = session.get(PENDING_TWO_FACTOR_KEY) or {}
    if time.time() - pending.get("at", 0) > TWO_FACTOR_WINDOW_S:
        return None
    return db.session.get(User, pending.get("user", 0))


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(setting("LOGIN_ADDRESS_RATE_LIMIT"), methods=["POST"], deduct_when=failed)
@limiter.limit(setting("LOGIN_RATE_LIMIT"), methods=["POST"], key_func=pending_two_factor_account, deduct_when=failed)
def second_step():
    """Second sign-in step: the authenticator code or a recovery code."""
    user = _pending_user()
    if user is None:
        session.pop(PENDING_TWO_FACTOR_KEY, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login"))
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.verify(user, form.code.data, now=utcnow())
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            target = session[PENDING_TWO_FACTOR_KEY]["next"]
            sign_in(user)
            db.session.commit()
            return redirect(safe_next(target))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/two_factor.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out: this browser's session ends on the server too."""
    sign_out()
    db.session.commit()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
