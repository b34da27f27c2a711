"""upsconnect: a self-hostable portal for fleets of network-connected Smart-UPS devices."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.config import load_config
from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate, talisman
from portal.logging_setup import configure_logging

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")

# No external requests: every script, style and font comes from the portal itself.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": ["'self'", "data:"],
    "style-src": "'self'",
    "script-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal: defaults from the environment, then overrides (tests pass a mapping)."""
    # UPSCONNECT_INSTANCE_PATH moves the database, kept secrets and logs out of the code tree
    instance_path = os.environ.get("UPSCONNECT_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
    )
    app.config.from_mapping(load_config(Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)
    if not app.testing:  # tests keep pytest's own log capture
        configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Trust X-Forwarded-* only from the configured number of proxies: the limiter then sees clients.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    talisman.init_app(
        app,
        force_https=app.config["HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=[],
        frame_options="DENY",
        strict_transport_security=app.config["HTTPS"],
    )

    from portal import auth_session, cli, device_link, errors, metrics
    from portal.services.clock import install_clock

    install_clock(app)
    # The payment gateway behind Buy online; the sandbox accepts documented test cards only.
    from portal.services.licensing.payments import SandboxGateway

    app.extensions["upsconnect.payments"] = SandboxGateway()
    auth_session.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    device_link.init_app(app)
    metrics.instrument(app)

    from portal.views import register_blueprints
    from portal.views.helpers import IdConverter

    # `<id:...>` in every route that names a row: an id no row can have is a 404 before any query runs.
    app.url_map.converters["id"] = IdConverter
    register_blueprints(app)

    from portal.services.alerts.policies import give_new_companies_the_default_policy

    give_new_companies_the_default_policy()
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL and a busy timeout let the web and ingest processes share one SQLite file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
