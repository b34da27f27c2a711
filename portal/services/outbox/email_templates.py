"""Email bodies rendered from the app's templates without a request: services and workers queue them."""

from __future__ import annotations

from flask import current_app


def render_email(name: str, **context) -> str:
    """Render ``templates/<name>`` with only the context given (no request, no signed-in user)."""
    return current_app.jinja_env.get_template(name).render(**context)
