"""Rate limits per address and per account, behind a proxy only when told so, and on Redis shared by workers."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from flask import g, request

from portal.extensions import db as _db
from tests.conftest import make_app
from tests.portal.factories import PASSWORD, login, make_user

REDIS_URL = os.environ.get("UPSCONNECT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _fresh_user_per_request(request):
    """Tests keep one app context open: forget flask-login's cached user before each request."""
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")

    def forget() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _fail_sign_in(client, email: str) -> int:
    return client.post("/login", data={"email": email, "password": "not the password"}).status_code


def test_failed_sign_ins_lock_that_account_only_not_the_office(app):
    alice, bob = make_user(), make_user()
    office = "203.0.113.10"
    statuses = [_fail_sign_in(_from(app, office), alice.email) for _ in range(12)]
    assert statuses[:10] == [422] * 10 and statuses[10:] == [429, 429]
    # Alice waits it out, even from elsewhere; Bob, behind the same address, signs in.
    assert login(_from(app, "198.51.100.7"), alice).status_code == 429
    assert login(_from(app, office), bob).status_code == 302


def test_failed_sign_ins_are_limited_per_address_across_accounts(app):
    app.config["LOGIN_ADDRESS_RATE_LIMIT"] = "5 per minute"
    statuses = [_fail_sign_in(_from(app, "203.0.113.20"), f"guess{n}@example.com") for n in range(7)]
    assert statuses[:5] == [422] * 5 and statuses[5:] == [429, 429]
    assert _fail_sign_in(_from(app, "203.0.113.21"), "guess0@example.com") == 422


def test_successful_sign_ins_use_up_no_limit(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    app.config["LOGIN_ADDRESS_RATE_LIMIT"] = "3 per minute"
    user = make_user()
    assert [login(_from(app, "203.0.113.30"), user).status_code for _ in range(5)] == [302] * 5


def test_sign_up_is_limited_per_address(app):
    app.config["SIGNUP_RATE_LIMIT"] = "2 per hour"

    def sign_up(address: str) -> int:
        data = {
            "company_name": "Acme", "kind": "customer", "country": "France", "user_name": "Ann",
            "email": f"{uuid.uuid4().hex[:12]}@acme.example", "password": PASSWORD,
        }
        return _from(app, address).post("/signup", data=data).status_code

    assert [sign_up("203.0.113.40") for _ in range(3)] == [302, 302, 429]
    assert sign_up("203.0.113.41") == 302


CODE_ROUTES = [
    ("/licenses/verify", "CODE_RATE_LIMIT", {"code": "ABCD-EFGH-JKLM"}),
    ("/sharing/accept", "CODE_RATE_LIMIT", {"code": "123456"}),
    ("/devices/claim", "CLAIM_RATE_LIMIT", {"serial": "AS2600000000", "code": "12345678"}),
]


@pytest.mark.parametrize(("url", "setting", "data"), CODE_ROUTES)
def test_code_guessing_is_limited_per_account_from_many_addresses(app, url, setting, data):
    app.config[setting] = "3 per minute"
    user = make_user()
    statuses = []
    for n in range(5):
        client = _from(app, f"198.51.100.{n + 1}")
        login(client, user)
        statuses.append(client.post(url, data=data).status_code)
    assert statuses[:3] == [422] * 3 and statuses[3:] == [429, 429]


@pytest.mark.parametrize(("url", "setting", "data"), CODE_ROUTES)
def test_code_guessing_is_limited_per_address_across_accounts(app, url, setting, data):
    app.config[setting] = "3 per minute"
    statuses = []
    for _ in range(5):
        client = _from(app, "203.0.113.50")
        login(client, make_user())
        statuses.append(client.post(url, data=data).status_code)
    assert statuses[:3] == [422] * 3 and statuses[3:] == [429, 429]


# --- behind a proxy --------------------------------------------------------------------------------------


@pytest.fixture
def app_factory(request, tmp_path):
    """Build portals with extra settings on the test database (SQLite, or PostgreSQL when asked)."""
    built = []

    def build(**overrides):
        if os.environ.get("UPSCONNECT_TEST_DATABASE") == "postgres":
            url = request.getfixturevalue("postgres_url")
        else:
            url = f"sqlite:///{tmp_path / 'limits.db'}"
        app = make_app(url, tmp_path, **overrides)
        context = app.app_context()
        context.push()
        if not built:
            _db.drop_all()
            _db.create_all()
        built.append(context)
        return app

    yield build
    # Each app has its own session and engine: close the later ones first, or their open transactions
    # keep PostgreSQL's DROP TABLE waiting.
    for n, context in reversed(list(enumerate(built))):
        _db.session.remove()
        if n == 0:
            _db.drop_all()
        _db.engine.dispose()
        context.pop()


def _fail_through_proxy(app, client_address: str, n: int) -> int:
    client = _from(app, "10.0.0.2")  # every request arrives from the TLS proxy
    client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
    return _fail_sign_in(client, f"guess{n}@example.com")


def test_without_proxy_hops_x_forwarded_for_is_ignored(app_factory):
    app = app_factory(LOGIN_ADDRESS_RATE_LIMIT="3 per minute")
    statuses = [_fail_through_proxy(app, f"198.51.100.{n}", n) for n in range(1, 5)]
    # A forged header cannot buy a fresh bucket: the proxy's (or attacker's) own address counts.
    assert statuses == [422, 422, 422, 429]


def test_with_proxy_hops_each_client_behind_the_proxy_has_its_own_bucket(app_factory):
    app = app_factory(LOGIN_ADDRESS_RATE_LIMIT="3 per minute", PROXY_HOPS=1)
    assert [_fail_through_proxy(app, "198.51.100.1", n) for n in range(4)] == [422, 422, 422, 429]
    assert [_fail_through_proxy(app, "198.51.100.2", n) for n in range(4, 7)] == [422, 422, 422]


@pytest.mark.parametrize(("hops", "seen"), [(0, ("10.0.0.2", "http")), (1, ("198.51.100.9", "https"))])
def test_forwarded_address_and_scheme_are_read_only_with_proxy_hops(app_factory, hops, seen):
    app = app_factory(PROXY_HOPS=hops)
    observed = []
    app.before_request_funcs.setdefault(None, []).append(
        lambda: observed.append((request.remote_addr, request.scheme))
    )
    client = _from(app, "10.0.0.2")
    client.get("/login", headers={"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"})
    assert observed == [seen]


# --- Redis storage -----------------------------------------------------------------------------------------


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis server answers on 127.0.0.1:6379")
def test_redis_storage_shares_the_counts_between_workers(app_factory):
    first = app_factory(RATELIMIT_STORAGE_URI=REDIS_URL)
    user = make_user(email=f"{uuid.uuid4().hex[:12]}@redis.example")
    assert [_fail_sign_in(_from(first, "203.0.113.60"), user.email) for _ in range(10)] == [422] * 10

    # A second worker process would build its own app and connect to the same Redis.
    second = app_factory(RATELIMIT_STORAGE_URI=REDIS_URL)
    assert _fail_sign_in(_from(second, "203.0.113.61"), user.email) == 429
    assert login(_from(second, "203.0.113.61"), make_user()).status_code == 302

    import redis

    keys = redis.Redis.from_url(REDIS_URL).keys("LIMITS*")
    assert any(user.email.encode() in key for key in keys)
