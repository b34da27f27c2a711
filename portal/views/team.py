"""Co-workers: the team page, invitations and joining by an invitation link."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.auth_session import sign_in
from portal.extensions import db
from portal.forms.accounts import AcceptInvitationForm, InviteForm
from portal.services.accounts import users
from portal.services.clock import utcnow
from portal.services.errors import AccountError, NotFound
from portal.services.outbox.links import public_url
from portal.views.helpers import attach_error

bp = Blueprint("team", __name__)


def _render_team(form: InviteForm, status: int = 200):
    return render_template(
        "team/index.html",
        form=form,
        users=current_user.company.users,
        pending=users.pending_invitations(current_user.company_id),
    ), status


@bp.get("/team")
@login_required
def index():
    """The company's users and pending invitations."""
    return _render_team(InviteForm())


@bp.post("/team/invite")
@login_required
def invite():
    """Invite a co-worker by email."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _render_team(form, 422)
    try:
        sent = users.invite_coworker(
            current_user,
            form.email.data or "",
            now=utcnow(),
            join_link=lambda token: public_url(url_for("team.join", token=token)),
        )
    except AccountError as error:
        db.session.rollback()
        attach_error(form, error)
        return _render_team(form, 422)
    db.session.commit()
    flash(
        f"Invitation Sent. Your invitation is on its way to {sent.invitation.email}. "
        "Thanks for sharing upsconnect with your co-worker.",
        "success",
    )
    return redirect(url_for("team.index"))


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    """Join a company from an invitation link."""
    try:
        invitation = users.open_invitation(token)
    except NotFound:
        abort(404, "This invitation link is not valid any more. Ask your co-worker for a new one.")
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = users.accept_invitation(token, user_name=form.user_name.data, password=form.password.data, now=utcnow())
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            sign_in(user)
            db.session.commit()
            flash(f"Welcome, {user.name}. You have joined {user.company.name}.", "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("team/join.html", form=form, invitation=invitation), status
