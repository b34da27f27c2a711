"""What the rate limits the views declare count, and by which key (an address, or an account)."""

from __future__ import annotations

from flask import Response, current_app, request, session
from flask_login import current_user

PENDING_TWO_FACTOR_KEY = "two_factor_user"


def setting(name: str):
    """A limit read from the configuration when the request arrives (tests and operators change it)."""
    return lambda: current_app.config[name]


def failed(response: Response) -> bool:
    # Only refusals use up a limit, so people who sign in correctly are never slowed down.
    return response.status_code >= 400


def sign_in_account() -> str:
    return "sign-in:" + (request.form.get("email") or "").strip().lower()[:254]


def pending_two_factor_account() -> str:
    return f"two-factor:{session.get(PENDING_TWO_FACTOR_KEY, {}).get('user', '')}"


def signed_in_account() -> str:
    return f"user:{current_user.get_id()}"
