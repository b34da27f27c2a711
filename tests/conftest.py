"""Fixtures shared by every test: a portal app on a fresh database, clients, a local SMTP server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db as _db
from portal.extensions import limiter

POSTGRES_ADMIN_URL = os.environ.get("UPSCONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def make_app(database_url: str, tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "FACTORY_KEY": "test-factory-key",
        "WTF_CSRF_ENABLED": False,
        "LAB_MODE": True,
        "SERVER_NAME": "portal.test",
        "PUBLIC_URL": "http://portal.test",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 9,  # discard: tests that need mail start their own server
        "LAB_OUTBOX_DIR": str(tmp_path / "instance" / "lab-outbox"),
    }
    config.update(overrides)
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """The limiter is process-wide; every test starts with its counters at zero."""
    yield
    if getattr(limiter, "_storage", None) is not None:  # only once an app has initialised it
        limiter.reset()


@pytest.fixture
def app(tmp_path, request):
    """The portal on a fresh SQLite file, or on PostgreSQL with UPSCONNECT_TEST_DATABASE=postgres."""
    if os.environ.get("UPSCONNECT_TEST_DATABASE") == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    with fresh_schema(make_app(url, tmp_path)) as app:
        yield app


@contextmanager
def fresh_schema(app) -> Iterator:
    """`app` in its app context on an empty schema, dropped afterwards with its connections closed."""
    with app.app_context():
        _db.drop_all()
        _db.create_all()
        try:
            yield app
        finally:
            _db.session.remove()
            _db.drop_all()
            _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


def _postgres_reachable() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards."""
    if not _postgres_reachable():
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL} (set UPSCONNECT_TEST_POSTGRES_URL)")
    name = f"upsconnect_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_app(postgres_url, tmp_path):
    with fresh_schema(make_app(postgres_url, tmp_path)) as app:
        yield app


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free local port that keeps what it receives."""
    from tests.support.smtp import LocalSmtpServer

    server = LocalSmtpServer()
    server.start()
    yield server
    server.stop()


NOW = datetime(2026, 3, 1, 9, 30)
TODAY = date(2026, 3, 1)


def notify_once(app) -> str:
    """One pass of the delivery worker, exactly as `flask notify --once` runs it; its summary line.

    The summary is what the command prints on stdout; its log lines go to stderr, which the runner
    keeps apart (``result.output`` would interleave both)."""
    result = app.test_cli_runner().invoke(args=["notify", "--once"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def pytest_sessionfinish(session, exitstatus):
    """The run fails if a test left a child process running (a worker, a broker, a server)."""
    from tests.support.leaks import check_session_left_no_children

    check_session_left_no_children(session)


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver's one receiver per session listens on 127.0.0.1 for every test: webhook URLs
    and the messages naming their host say 127.0.0.1, whichever test started the receiver first."""
    return ("127.0.0.1", 0)
