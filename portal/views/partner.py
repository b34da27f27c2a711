"""Partner pages: Shared With Me, ordering licenses for a customer, and assigning licenses from a code.

The assignment flow (also reached from Verify Activation Code): choose devices and enter the code
(partner.assign), see each device's new term dates computed by a dry run (partner.assign_preview),
confirm (partner.assign_confirm), then read the dates the devices got (partner.assign_done).
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx, limiter
from portal.forms.partner import AssignForm, OrderForm
from portal.services.accounts import access
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.licensing import entitlements
from portal.services.outbox.links import public_url
from portal.services.partners import assignment_preview, license_orders, shared_devices
from portal.views.helpers import attach_error, ids_or_404

bp = Blueprint("partner", __name__, url_prefix="/partner")


def _code_limit() -> str:
    return current_app.config["CODE_RATE_LIMIT"]


def _per_user() -> str:
    return f"user:{current_user.get_id()}"


def _partners_only() -> None:
    # Customers have no such page: 404 like any other page that is not theirs.
    if not current_user.company.is_partner:
        abort(404)


@bp.get("/shared")
@login_required
def shared_with_me():
    """Shared With Me: devices customers shared, grouped by customer, soonest renewal first."""
    _partners_only()
    today = clock().today()
    groups = shared_devices.shared_with_me(current_user, today=today)
    if htmx:
        return render_block("partner/shared_with_me.html", "groups", groups=groups)
    return render_template("partner/shared_with_me.html", groups=groups)


# Orders ---------------------------------------------------------------------------------------


def _orders_page(form: OrderForm, status: int = 200):
    context = {
        "form": form,
        "orders": license_orders.recent_orders(current_user),
        "customers": shared_devices.customers_of(current_user),
    }
    if htmx and status == 200 and request.method == "GET":
        return render_block("partner/orders.html", "order_list", **context), status
    return render_template("partner/orders.html", **context), status


@bp.get("/orders")
@login_required
def orders():
    """The partner's license orders and the order form."""
    _partners_only()
    form = OrderForm(data={"installer_email": current_user.email, "quantity": "1"})
    return _orders_page(form)


@bp.post("/orders")
@login_required
def place_order():
    """Order licenses; the activation code goes to the Installer Email."""
    _partners_only()
    form = OrderForm()
    if not form.validate_on_submit():
        return _orders_page(form, 422)
    lab_clock = clock()
    try:
        placed = license_orders.order_for_customer(
            current_user,
            sku=form.sku.data or "",
            quantity=form.quantity.data or "",
            po_number=form.po_number.data or "",
            installer_email=form.installer_email.data or "",
            customer_name=form.customer_name.data or "",
            today=lab_clock.today(),
            now=lab_clock.now(),
            verify_url=public_url(url_for("licenses.verify")),
            shared_url=public_url(url_for("partner.shared_with_me")),
        )
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _orders_page(form, 422)
    db.session.commit()
    flash(
        f"Order placed: {placed.code.quantity} x {placed.code.sku} (PO {placed.order.po_number}). "
        f"The activation code is on its way by email to {placed.order.installer_email}.",
        "success",
    )
    return redirect(url_for("partner.orders")), 303


# Assignment -----------------------------------------------------------------------------------


def _devices_or_404(ids: list[int]):
    """The devices in the order given; a device the user may not act on is a 404, as by URL."""
    try:
        return [access.device_for(current_user, device_id) for device_id in ids]
    except NotFound:
        abort(404, access.NOT_FOUND)


def _select_page(form: AssignForm, selected: list[int], status: int = 200, summary=None, device_errors=()):
    today = clock().today()
    rows = shared_devices.assignable_rows(current_user, today=today)
    return render_template(
        "partner/assign.html",
        form=form,
        rows=rows,
        selected=set(selected),
        summary=summary,
        me=current_user.company_id,
        device_errors=list(device_errors),
    ), status


def _refused(form: AssignForm, selected: list[int], error: DomainError):
    """The selection page again with the refusal in place, 422; the view rolled back first."""
    device_errors = [error.message] if error.field == "devices" else []
    if not device_errors:
        attach_error(form, error)
    return _select_page(
        form, selected, 422, summary=_summary_or_none(form.code.data or ""), device_errors=device_errors
    )


def _summary_or_none(code: str):
    try:
        return entitlements.verify_code(code, today=clock().today())
    except DomainError:
        return None


@bp.get("/assign")
@login_required
def assign():
    """Choose devices to assign licenses from an activation code to."""
    selected = ids_or_404(request.args.getlist("device"))
    _devices_or_404(selected)
    return _select_page(AssignForm(formdata=None), selected)


@bp.post("/assign")
@login_required
@limiter.limit(_code_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_per_user)
def assign_preview():
    """Preview the terms each chosen device would get, without writing."""
    form = AssignForm()
    selected = ids_or_404(request.form.getlist("device"))
    devices = _devices_or_404(selected)
    if request.form.get("start"):
        # Arriving from Verify Activation Code: the code is filled in, nothing is checked yet.
        return _select_page(form, selected, summary=_summary_or_none(form.code.data or ""))
    if not form.validate_on_submit():
        return _select_page(form, selected, 422)
    today = clock().today()
    try:
        summary = entitlements.verify_code(form.code.data or "", today=today)
        previews = assignment_preview.preview(current_user, summary, devices, today=today)
    except DomainError as error:
        db.session.rollback()
        return _refused(form, selected, error)
    return render_template(
        "partner/assign_confirm.html", form=form, summary=summary, previews=previews, today=today
    )


@bp.post("/assign/confirm")
@login_required
@limiter.limit(_code_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_per_user)
def assign_confirm():
    """Assign one license from the code to each chosen device."""
    form = AssignForm()
    selected = ids_or_404(request.form.getlist("device"))
    devices = _devices_or_404(selected)
    if not form.validate_on_submit():
        return _select_page(form, selected, 422)
    lab_clock = clock()
    try:
        assigned = entitlements.assign_from_code(
            current_user, form.code.data or "", devices, today=lab_clock.today(), now=lab_clock.now()
        )
    except DomainError as error:
        db.session.rollback()
        return _refused(form, selected, error)
    db.session.commit()
    count = len(assigned)
    flash(f"{count} license{'s' if count != 1 else ''} assigned.", "success")
    return redirect(url_for("partner.assign_done", entitlement=[e.id for e in assigned])), 303


@bp.get("/assign/done")
@login_required
def assign_done():
    """The terms just assigned, after confirming."""
    try:
        assigned = assignment_preview.assignments_for(current_user, ids_or_404(request.args.getlist("entitlement")))
    except NotFound as error:
        abort(404, error.message)
    code = assigned[0].activation_code
    return render_template(
        "partner/assign_done.html",
        results=assignment_preview.assigned_terms(assigned),
        code=code,
    )
