"""Reports: MyInventory and MyRenewals downloads, and the outage report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from portal.services.clock import clock
from portal.services.errors import DomainError
from portal.services.reports import my_reports, outages
from portal.views.helpers import customer_filter, send_xlsx

bp = Blueprint("reports", __name__, url_prefix="/reports")




def _suffix(customer_id: int | None) -> str:
    return f"-customer{customer_id}" if customer_id is not None else ""


def csv_response(columns: Sequence[my_reports.Column], rows: Iterable[dict], download_name: str) -> Response:
    response = Response(stream_with_context(my_reports.csv_stream(columns, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def xlsx_response(
    sheet: str, columns: Sequence[my_reports.Column], rows: Iterable[dict], download_name: str
) -> Response:
    return send_xlsx(lambda path: my_reports.write_xlsx(path, sheet, columns, rows), download_name)


@bp.get("/")
@login_required
def index():
    """The Reports page: MyInventory, MyRenewals and the outage report."""
    customers = my_reports.customers(current_user)
    return render_template(
        "reports/index.html",
        customers=customers,
        device_count=sum(c.devices for c in customers),
        today=clock().today(),
    )


def _device_report(report: str, ext: str) -> Response:
    customer_id = customer_filter()
    today = clock().today()
    sheet, columns = my_reports.REPORTS[report]
    rows = my_reports.device_rows(current_user, today=today, customer_id=customer_id)
    name = my_reports.filename(report, today, ext, _suffix(customer_id))
    if ext == "csv":
        return csv_response(columns, rows, name)
    return xlsx_response(sheet, columns, rows, name)


def _register_downloads() -> None:
    for report in my_reports.REPORTS:
        for ext in ("csv", "xlsx"):
            view: Callable[..., Response] = (lambda r, e: lambda: _device_report(r, e))(report, ext)
            view.__name__ = f"{report}_{ext}"
            view.__doc__ = f"The {my_reports.REPORTS[report][0]} report as {ext.upper()}."
            bp.add_url_rule(f"/{report}.{ext}", endpoint=f"{report}_{ext}", view_func=login_required(view))


_register_downloads()


# ---------------------------------------------------------------------------------------------
# Outage report


def _period_form():
    from portal.forms.reports import OutagePeriodForm

    today = clock().today()
    given = MultiDict(
        {key: value for key, value in request.args.items() if key in ("start", "end") and value.strip()}
    )
    form = OutagePeriodForm(given)
    if "start" not in given:
        form.start.data = today - timedelta(days=outages.DEFAULT_DAYS - 1)
    if "end" not in given:
        form.end.data = today
    return form


def _period(form) -> outages.Period | None:
    """The checked period, or None with the errors attached to the form's fields."""
    if not form.validate():
        return None
    try:
        return outages.check_period(form.start.data, form.end.data, today=clock().today())
    except DomainError as error:
        from portal.views.helpers import attach_error

        attach_error(form, error)
        return None


@bp.get("/outages")
@login_required
def outage_report():
    """The outage report for a chosen period, on the page."""
    customer_id = customer_filter()
    form = _period_form()
    period = _period(form)
    report = None
    if period is not None:
        report = outages.outage_report(current_user, period, now=clock().now(), customer_id=customer_id)
    context = {"form": form, "report": report, "period": period, "customer_id": customer_id}
    return render_template("reports/outages.html", **context), (200 if period else 422)


def _outage_download(ext: str) -> Response:
    customer_id = customer_filter()
    form = _period_form()
    period = _period(form)
    if period is None:
        context = {"form": form, "report": None, "period": None, "customer_id": customer_id}
        return Response(render_template("reports/outages.html", **context), status=422)
    report = outages.outage_report(current_user, period, now=clock().now(), customer_id=customer_id)
    name = f"Outages-{period.start.isoformat()}-to-{period.end.isoformat()}{_suffix(customer_id)}.{ext}"
    if ext == "csv":
        if request.args.get("by") == "site":
            return csv_response(
                outages.SITE_COLUMNS, outages.site_export_rows(report), name.replace(".csv", "-by-site.csv")
            )
        return csv_response(outages.DEVICE_COLUMNS, outages.device_export_rows(report), name)
    return _outage_xlsx(report, name)


def _outage_xlsx(report: outages.OutageReport, download_name: str) -> Response:
    return send_xlsx(lambda path: outages.write_xlsx(path, report), download_name)


@bp.get("/outages.csv")
@login_required
def outages_csv():
    """The outage report as CSV."""
    return _outage_download("csv")


@bp.get("/outages.xlsx")
@login_required
def outages_xlsx():
    """The outage report as XLSX."""
    return _outage_download("xlsx")
