"""Partner quotes: build one from shared devices or a MyRenewals file; show, print and download it."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from werkzeug.datastructures import MultiDict

from portal.extensions import db, htmx
from portal.forms.quotes import CalculatorForm, DevicesQuoteForm, UploadQuoteForm
from portal.models import Company, Device
from portal.services.accounts import access
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.partners import quotes
from portal.services.partners.renewals_upload import parse_renewals
from portal.views.helpers import attach_error, send_xlsx
from portal.views.reports import csv_response

bp = Blueprint("quotes", __name__, url_prefix="/quotes")


def _partners_only() -> None:
    if not current_user.company.is_partner:
        abort(404)


def _shared_groups() -> list[tuple[str, list]]:
    """Shared devices grouped by customer, for the device picker."""
    rows = db.session.execute(
        access.shared_devices(current_user)
        .with_only_columns(Device.id, Device.serial, Device.model, Device.name, Device.site, Company.name)
        .join(Company, Company.id == Device.owner_company_id)
        .order_by(Company.name, Device.site, Device.serial)
    ).all()
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row[5], []).append(row)
    return list(groups.items())


def _index(devices_form=None, upload_form=None, status: int = 200):
    return render_template(
        "quotes/index.html",
        devices_form=devices_form or DevicesQuoteForm(formdata=None),
        upload_form=upload_form or UploadQuoteForm(formdata=None),
        groups=_shared_groups(),
        recent=quotes.recent_quotes(current_user),
    ), status


@bp.get("/")
@login_required
def index():
    """The quotes page: build one from shared devices or an uploaded MyRenewals file."""
    _partners_only()
    return _index()


@bp.post("/from-devices")
@login_required
def from_devices():
    """Build a renewal quote from chosen shared devices."""
    _partners_only()
    form = DevicesQuoteForm()
    if form.validate():
        try:
            lines = quotes.lines_from_devices(current_user, form.device.data or [], today=clock().today())
        except NotFound:
            abort(404, access.NOT_FOUND)
        except DomainError as error:
            attach_error(form, error)
        else:
            return _create_and_show(form, "shared", lines) or _index(devices_form=form, status=422)
    return _index(devices_form=form, status=422)


@bp.post("/upload")
@login_required
def upload():
    """Build a renewal quote from an uploaded MyRenewals file (CSV or XLSX)."""
    _partners_only()
    form = UploadQuoteForm()  # a body over MAX_CONTENT_LENGTH is answered by errors.too_large
    if form.validate():
        storage = form.file.data
        try:
            if storage is None or not getattr(storage, "filename", ""):
                raise quotes.QuoteError("Choose the MyRenewals file to upload (CSV or XLSX).", field="file")
            lines = quotes.lines_from_upload(parse_renewals(storage.filename, storage))
        except DomainError as error:
            attach_error(form, error)
        else:
            return _create_and_show(form, "upload", lines) or _index(upload_form=form, status=422)
    return _index(upload_form=form, status=422)


def _create_and_show(form, source: str, lines) -> Response | None:
    """Store the quote and show it; None (with the reason on the form) when the service refuses."""
    lab_clock = clock()
    try:
        quote = quotes.create_quote(
            current_user, source=source, lines=lines, customer_name=form.customer_name.data or "",
            today=lab_clock.today(), now=lab_clock.now(),
        )
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return None
    db.session.commit()
    return redirect(url_for("quotes.show", quote_id=quote.id), 303)


def _quote_or_404(quote_id: str):
    _partners_only()
    try:
        return quotes.quote_for(current_user, quote_id)
    except NotFound:
        abort(404)


@bp.get("/<quote_id>")
@login_required
def show(quote_id: str):
    """One quote, printable."""
    quote = _quote_or_404(quote_id)
    args = MultiDict({"qty": request.args["qty"]}) if request.args.get("qty", "").strip() else None
    form = CalculatorForm(args)
    status = 200
    qty = None
    if args is not None:
        if form.validate():
            qty = form.qty.data
        else:
            status = 422
    else:
        form.qty.data = len(quote.lines)
    priced = quotes.price_quote(quote, calculator_quantity=qty)
    context = {"quote": quote, "priced": priced, "form": form, "terms": quotes.TERMS, "plans": quotes.PLANS}
    if htmx and htmx.target == "calculator":
        return render_block("quotes/show.html", "calculator", **context), status
    return render_template("quotes/show.html", **context), status


@bp.get("/<quote_id>.csv")
@login_required
def show_csv(quote_id: str):
    """One quote as CSV."""
    quote = _quote_or_404(quote_id)
    priced = quotes.price_quote(quote)
    return csv_response(
        quotes.EXPORT_COLUMNS,
        quotes.export_rows(priced),
        f"Quote-{quote.quoted_on.isoformat()}-{quote.id[:8]}.csv",
    )


@bp.get("/<quote_id>.xlsx")
@login_required
def show_xlsx(quote_id: str) -> Response:
    """One quote as XLSX."""
    quote = _quote_or_404(quote_id)
    priced = quotes.price_quote(quote)
    name = f"Quote-{quote.quoted_on.isoformat()}-{quote.id[:8]}.xlsx"
    return send_xlsx(lambda path: quotes.write_xlsx(path, priced), name)
