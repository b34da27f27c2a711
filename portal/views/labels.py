"""Names and sites: label one device, a selection, or every device in a CSV (preview, then apply)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.forms.devices import BulkSiteForm, LabelsApplyForm, LabelsCsvForm, LabelsForm
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound
from portal.services.fleet import labels
from portal.views.helpers import attach_error, ids_or_404

bp = Blueprint("labels", __name__)


def _device_or_404(device_id: int):
    try:
        return access.device_for(current_user, device_id)
    except NotFound:
        abort(404, access.NOT_FOUND)


def _index(bulk_form=None, csv_form=None, plan=None, status: int = 200):
    try:
        page = int(request.args.get("page", 1))
    except ValueError:
        page = 1
    listing = labels.label_list(current_user, request.args.get("q", ""), page)
    return render_template(
        "devices/labels.html",
        listing=listing,
        bulk_form=bulk_form or BulkSiteForm(formdata=None),
        csv_form=csv_form or LabelsCsvForm(formdata=None),
        apply_form=LabelsApplyForm(formdata=None, csv_text=plan.text) if plan and plan.ok else None,
        plan=plan,
        selected=set(request.form.getlist("device")),
        max_kb=labels.MAX_CSV_BYTES // 1024,
        example=labels.CSV_EXAMPLE,
    ), status


@bp.get("/devices/names")
@login_required
def index():
    """Every device with its name, location and site; select several to set their site, or upload a CSV."""
    return _index()


@bp.post("/devices/names/site")
@login_required
def bulk():
    """Give the selected devices one site (and location)."""
    form = BulkSiteForm()
    ids = ids_or_404(request.form.getlist("device"), access.NOT_FOUND)
    if form.validate_on_submit():
        try:
            changed = labels.set_site_and_location(current_user, ids, form.site.data, form.location.data)
        except NotFound:
            db.session.rollback()
            abort(404, access.NOT_FOUND)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"{len(changed)} device{'s' if len(changed) != 1 else ''} updated.", "success")
            return redirect(url_for("labels.index")), 303
    return _index(bulk_form=form, status=422)


@bp.post("/devices/names/preview")
@login_required
def preview():
    """Check an uploaded CSV of serial,name,site and show what it would change; nothing is stored."""
    form = LabelsCsvForm()
    if form.validate_on_submit():
        storage = form.file.data
        try:
            if storage is None or not getattr(storage, "filename", ""):
                raise labels.CsvRefused("Choose the CSV file to upload.")
            text = labels.decode_upload(storage.stream.read(labels.MAX_CSV_BYTES + 1))
            plan = labels.plan_csv(current_user, text)
        except DomainError as error:
            attach_error(form, error)
        else:
            return _index(csv_form=form, plan=plan, status=200 if plan.ok else 422)
    return _index(csv_form=form, status=422)


@bp.post("/devices/names/apply")
@login_required
def apply():
    """Apply a previewed CSV: checked again, and stored only if every line still passes."""
    form = LabelsApplyForm()
    if form.validate_on_submit():
        try:
            plan = labels.apply_csv(current_user, form.csv_text.data or "")
        except DomainError as error:
            db.session.rollback()
            csv_form = LabelsCsvForm(formdata=None)
            attach_error(csv_form, error)
            return _index(csv_form=csv_form, status=422)
        if not plan.ok:
            db.session.rollback()
            return _index(plan=plan, status=422)
        db.session.commit()
        count = len(plan.to_apply)
        flash(f"{count} device{'s' if count != 1 else ''} updated from the CSV.", "success")
        return redirect(url_for("labels.index")), 303
    return _index(status=422)


@bp.route("/devices/<id:device_id>/name", methods=["GET", "POST"])
@login_required
def edit(device_id: int):
    """One device's name, location and site."""
    device = _device_or_404(device_id)
    form = LabelsForm(data={"name": device.name, "location": device.location, "site": device.site})
    if form.validate_on_submit():
        try:
            new = labels.clean_labels(form.name.data, form.location.data, form.site.data)
            labels.set_labels(current_user, device, new)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"{device.display_name} saved.", "success")
            return redirect(url_for("devices.show", device_id=device.id)), 303
    return render_template("devices/name.html", device=device, form=form), 422 if form.is_submitted() else 200
