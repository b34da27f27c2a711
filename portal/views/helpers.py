"""Small helpers shared by the views."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Response, send_file, url_for
from flask_wtf import FlaskForm

from portal.services.errors import DomainError


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
