"""Absolute links in what the portal sends: every one starts with the configured public address.

``UPSCONNECT_PUBLIC_URL`` (``make run`` sets it from its port) is the address users reach the portal
at. Links are never built from a request's Host header: a worker has no request, and a forged Host
must not end up in an email.
"""

from __future__ import annotations

from flask import current_app


def public_url(path: str) -> str:
    """``path`` (from ``url_for`` without ``_external``, or written out) under the public address."""
    return current_app.config.get("PUBLIC_URL", "").rstrip("/") + "/" + path.lstrip("/")
