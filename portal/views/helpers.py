"""Small helpers shared by the views."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for
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
