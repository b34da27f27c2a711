"""Notifications: policies, the delivery log (with re-send), maintenance windows, threshold alerts."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx
from portal.forms.notifications import MaintenanceForm, PolicyForm, ThresholdForm
from portal.services.alerts import delivery_log, maintenance, policies, thresholds
from portal.services.alerts.event_types import EVENT_TYPES
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.outbox.queue import DELIVERY_NOT_FOUND
from portal.views.helpers import attach_error, id_or_404

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE = "notifications/index.html"
POLICY_PAGE = "notifications/policy.html"


def _maintenance_form() -> MaintenanceForm:
    form = MaintenanceForm()
    form.device.choices = [(d.id, d.display_name) for d in maintenance.owned_devices(current_user)]
    return form


def _threshold_form() -> ThresholdForm:
    setting = thresholds.setting_for(current_user)
    return ThresholdForm(obj=setting) if request.method == "GET" and setting else ThresholdForm()


def _page(status: int = 200, *, maintenance_form=None, threshold_form=None):
    now = clock().now()
    context = {
        "policies": policies.policies(current_user, now),
        "deliveries": delivery_log.deliveries(current_user, status=request.args.get("status")),
        "status_filter": request.args.get("status", ""),
        "windows": maintenance.maintenance_windows(current_user, now),
        "maintenance_form": maintenance_form or _maintenance_form(),
        "threshold_form": threshold_form or _threshold_form(),
        "event_types": EVENT_TYPES,
        "now": now,
        "webhook_secret": policies.webhook_secret(current_user),
    }
    db.session.commit()  # the default policy, created on first visit
    return render_template(PAGE, **context), status


@bp.get("")
@login_required
def index():
    """Notification policies, the delivery log, maintenance windows and thresholds."""
    if htmx and request.args.get("part") == "log":
        return log()
    return _page()


@bp.get("/log")
@login_required
def log():
    """The delivery log (partial for htmx)."""
    context = {
        "deliveries": delivery_log.deliveries(current_user, status=request.args.get("status")),
        "status_filter": request.args.get("status", ""),
    }
    return render_block(PAGE, "log", **context)


def _policy_input(form: PolicyForm) -> policies.PolicyInput:
    return policies.PolicyInput(
        name=form.name.data or "",
        description=form.description.data or "",
        event_types=form.event_types.data or [],
        severities=form.severities.data or [],
        email_recipients=form.email_recipients.data or "",
        slack_webhook_url=form.slack_webhook_url.data or "",
        teams_webhook_url=form.teams_webhook_url.data or "",
        webhook_url=form.webhook_url.data or "",
        enabled=bool(form.enabled.data),
    )


def _policy_page(form: PolicyForm, policy=None, status: int = 200):
    return render_template(POLICY_PAGE, form=form, policy=policy), status


def _form_id(name: str, message: str) -> int:
    """An id posted in a hidden field (ids of rows stay out of state-changing URLs)."""
    return id_or_404(request.form.get(name), message)


def _policy_or_404(policy_id: int):
    try:
        return policies.policy_for(current_user, policy_id)
    except NotFound:
        abort(404, policies.POLICY_NOT_FOUND)


@bp.get("/policies/new")
@login_required
def new_policy():
    """The form for a new notification policy."""
    form = PolicyForm(
        formdata=None,
        data={"severities": ["critical", "warning"], "event_types": ["on_battery", "low_battery"]},
    )
    return _policy_page(form)


@bp.post("/policies")
@login_required
def create_policy():
    """Create a notification policy."""
    form = PolicyForm()
    if not form.validate_on_submit():
        return _policy_page(form, status=422)
    try:
        policy = policies.create_policy(current_user, _policy_input(form), now=clock().now())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _policy_page(form, status=422)
    db.session.commit()
    flash(f"Policy “{policy.name}” created.", "success")
    return redirect(url_for("notifications.index")), 303


@bp.get("/policies/<id:policy_id>")
@login_required
def edit_policy(policy_id: int):
    """The form to edit a notification policy."""
    policy = _policy_or_404(policy_id)
    form = PolicyForm(obj=policy)
    form.email_recipients.data = "\n".join(policy.email_recipients)
    return _policy_page(form, policy)


@bp.post("/policies/update")
@login_required
def update_policy():
    """Save changes to a notification policy."""
    policy_id = _form_id("policy", policies.POLICY_NOT_FOUND)
    policy = _policy_or_404(policy_id)
    form = PolicyForm()
    if not form.validate_on_submit():
        return _policy_page(form, policy, 422)
    try:
        policies.update_policy(current_user, policy_id, _policy_input(form), now=clock().now())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _policy_page(form, policy, 422)
    db.session.commit()
    flash(f"Policy “{policy.name}” saved.", "success")
    return redirect(url_for("notifications.index")), 303


@bp.post("/policies/delete")
@login_required
def delete_policy():
    """Delete a notification policy (never the default one)."""
    policy_id = _form_id("policy", policies.POLICY_NOT_FOUND)
    try:
        policy = policies.delete_policy(current_user, policy_id)
    except NotFound:
        abort(404, policies.POLICY_NOT_FOUND)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("notifications.index")), 303
    db.session.commit()
    flash(f"Policy “{policy.name}” deleted.", "info")
    return redirect(url_for("notifications.index")), 303


@bp.post("/signing-secret/rotate")
@login_required
def rotate_signing_secret():
    """Replace the company's webhook signing secret with a new one."""
    policies.rotate_webhook_secret(current_user)
    db.session.commit()
    flash("New signing secret made: update your webhook receivers, signatures now use it.", "success")
    return redirect(url_for("notifications.index") + "#signing"), 303


@bp.post("/deliveries/resend")
@login_required
def resend():
    """Send a logged delivery again, as a new delivery."""
    delivery_id = _form_id("delivery", DELIVERY_NOT_FOUND)
    try:
        row = delivery_log.resend(current_user, delivery_id, now=clock().now())
    except NotFound:
        abort(404, DELIVERY_NOT_FOUND)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("notifications.index") + "#log"), 303
    db.session.commit()
    if htmx:
        return log()
    flash(f"Queued again for {row.target}.", "success")
    return redirect(url_for("notifications.index") + "#log"), 303


@bp.post("/maintenance")
@login_required
def add_maintenance():
    """Add a maintenance window during which a device raises no alerts."""
    form = _maintenance_form()
    if not form.validate_on_submit() or form.starts_at.data is None or form.ends_at.data is None:
        if not form.starts_at.errors and form.starts_at.data is None:
            form.starts_at.errors = ["Enter when the window starts."]
        if not form.ends_at.errors and form.ends_at.data is None:
            form.ends_at.errors = ["Enter when the window ends."]
        return _page(422, maintenance_form=form)
    try:
        maintenance.add_maintenance(
            current_user,
            form.device.data,
            form.starts_at.data,
            form.ends_at.data,
            form.note.data or "",
            now=clock().now(),
        )
    except NotFound:
        abort(404, "No such device in your account.")
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _page(422, maintenance_form=form)
    db.session.commit()
    flash("Maintenance window saved: alerts of this device are muted while it runs.", "success")
    return redirect(url_for("notifications.index") + "#maintenance"), 303


@bp.post("/maintenance/delete")
@login_required
def delete_maintenance():
    """Delete a maintenance window."""
    window_id = _form_id("window", "No such maintenance window in your account.")
    try:
        maintenance.delete_maintenance(current_user, window_id)
    except NotFound:
        abort(404, "No such maintenance window in your account.")
    db.session.commit()
    flash("Maintenance window removed.", "info")
    return redirect(url_for("notifications.index") + "#maintenance"), 303


@bp.post("/thresholds")
@login_required
def save_thresholds():
    """Save the company's threshold alert limits."""
    form = ThresholdForm()
    if not form.validate_on_submit():
        return _page(422, threshold_form=form)

    def margin(field, default: float) -> float:
        return default if field.data is None else field.data

    limits = thresholds.Limits(
        form.load_above_percent.data,
        form.runtime_below_min.data,
        form.voltage_low_v.data,
        form.voltage_high_v.data,
        margin(form.load_hysteresis_percent, 5.0),
        margin(form.runtime_hysteresis_min, 2.0),
        margin(form.voltage_hysteresis_v, 5.0),
    )
    try:
        thresholds.save(current_user, limits, now=clock().now())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _page(422, threshold_form=form)
    db.session.commit()
    flash("Threshold alerts saved.", "success")
    return redirect(url_for("notifications.index") + "#thresholds"), 303
