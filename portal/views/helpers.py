"""Small helpers shared by the views."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Response, abort, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.routing import BaseConverter, ValidationError

from portal.services.accounts.access import parse_id
from portal.services.errors import DomainError, NotFound
from portal.services.reports import my_reports


class IdConverter(BaseConverter):
    """`<id:name>`: a row id in a URL, 1 to MAX_ID; anything else matches no route, so it is a 404."""

    regex = r"[1-9][0-9]{0,9}"  # ASCII digits without a leading zero; to_python bounds the rest

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def id_or_404(raw: str | None, message: str | None = None) -> int:
    """An id posted in a form or query field; one that cannot name a row is a 404, as by URL."""
    number = parse_id(raw)
    if number is None:
        abort(404, message)
    return number


def ids_or_404(values: list[str], message: str | None = None) -> list[int]:
    return [id_or_404(value, message) for value in values]


def customer_filter() -> int | None:
    """The optional ?customer=<company id> of a report; one the user may not see is a 404, like any other."""
    raw = request.args.get("customer", "").strip()
    if not raw:
        return None
    customer_id = id_or_404(raw)
    try:
        my_reports.check_customer(current_user, customer_id)
    except NotFound:
        abort(404)
    return customer_id


def json_object_body() -> dict | None:
    """The request's JSON body when it is an object; None for anything else, including bodies Python's
    parser gives up on (thousands of nested brackets raise RecursionError, not ValueError)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return None
    return body if isinstance(body, dict) else None


def safe_next(target: str | None, default_endpoint: str = "dashboard.index") -> str:
    """Only same-site relative paths, so a crafted link cannot send a user elsewhere after sign-in."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for(default_endpoint)


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a service's refusal beside the field it concerns, or above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def send_xlsx(write: Callable[[str], None], download_name: str) -> Response:
    """A workbook written to a temporary file in constant memory, then sent from the open file (already unlinked)."""
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="upsconnect-")
    os.close(fd)
    try:
        write(path)
        handle = open(path, "rb")  # noqa: SIM115 - send_file closes it once sent
    finally:
        os.unlink(path)
    response = send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=download_name)
    response.headers["Cache-Control"] = "no-store"  # a company's data: never kept by a shared cache
    return response
