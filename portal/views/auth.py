"""Sign up, sign in, sign out."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.extensions import db, limiter
from portal.forms.accounts import SignInForm, SignUpForm
from portal.models import CompanyKind
from portal.services.accounts import users
from portal.services.clock import utcnow
from portal.services.errors import AccountError
from portal.views.helpers import attach_error, safe_next

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()


@bp.route("/signup", methods=["GET", "POST"])
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
            db.session.commit()
            login_user(user)
            flash(f"Welcome to upsconnect, {user.name}. Your company {user.company.name} is set up.", "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    """Sign in with email and password (rate-limited per address and per account)."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.email.data, form.password.data)
        except AccountError as error:
            attach_error(form, error)
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
