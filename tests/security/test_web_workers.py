"""Real gunicorn with four workers on one Redis: the sign-in limit and sessions hold whichever worker answers.

Requests reach the workers through gunicorn's shared listening socket; the access log names the
worker (its pid) that answered each one, so the test checks the requests really were spread.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devicelink.brokers import free_port
from tests.portal.factories import PASSWORD, make_user
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# A database number of its own and a key prefix per run: nothing shared with other tests on the same Redis.
REDIS_URL = os.environ.get("UPSCONNECT_TEST_REDIS_WORKERS_URL", "redis://127.0.0.1:6379/13")
WORKERS = 4
LOGIN_LIMIT = 10


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_answers(), reason=f"no Redis server answers at {REDIS_URL} (set UPSCONNECT_TEST_REDIS_WORKERS_URL)"
)


class _KeepStatus(urllib.request.HTTPErrorProcessor):
    """Answers as they are: a 302 or a 429 is what the test looks at, not an exception."""

    def http_response(self, request, response):
        return response

    https_response = http_response


class Browser:
    """A cookie jar and the last page, over plain HTTP connections (one per request)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _KeepStatus())

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with self.opener.open(urllib.request.Request(self.base + path, data=data), timeout=30) as response:
            return response.status, response.read().decode(errors="replace")

    def csrf_token(self, path: str) -> str:
        status, body = self.request(path)
        assert status == 200, (path, status)
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body)
        assert match, body[:2000]
        return match.group(1)

    def sign_in(self, email: str, password: str) -> int:
        token = self.csrf_token("/login")
        return self.request("/login", {"csrf_token": token, "email": email, "password": password})[0]


@pytest.fixture
def web(app, tmp_path):
    """``gunicorn -w 4 'portal:create_app()'`` on the test's database and the shared Redis; stopped at the end."""
    import redis

    prefix = f"web-workers-{uuid.uuid4().hex[:8]}"
    port = free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "UPSCONNECT_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPSCONNECT_INSTANCE_PATH": str(tmp_path / "web-instance"),
        "UPSCONNECT_SECRET_KEY": "one-secret-for-every-worker",
        "UPSCONNECT_FACTORY_KEY": "test-factory-key",
        "UPSCONNECT_RATELIMIT_STORAGE_URI": REDIS_URL,
        "UPSCONNECT_RATELIMIT_KEY_PREFIX": prefix,
        "UPSCONNECT_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
        "UPSCONNECT_LAB_MODE": "0",
    }
    for name in ("UPSCONNECT_MQTT_URL", "UPSCONNECT_RATELIMIT_ENABLED"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
        "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
        "portal:create_app()",
    ]  # fmt: skip
    with (tmp_path / "gunicorn.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        booted = lambda: (tmp_path / "gunicorn.log").read_text().count("Booting worker with pid") >= WORKERS  # noqa: E731
        wait_until(booted, 60, "four gunicorn workers")
        wait_until(lambda: _healthy(port), 60, "the workers to answer")
        yield f"http://127.0.0.1:{port}", access_log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        store = redis.Redis.from_url(REDIS_URL)
        keys = list(store.scan_iter(f"*{prefix}*"))
        if keys:
            store.delete(*keys)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def workers_that_answered(access_log: Path, method: str, path: str) -> list[str]:
    """The pid of the worker behind each logged request for ``method path``, in order."""
    lines = [line.split() for line in access_log.read_text().splitlines()]
    return [pid for pid, m, p, _ in (line for line in lines if len(line) == 4) if (m, p) == (method, path)]


def test_the_sign_in_limit_holds_across_four_gunicorn_workers(app, web):
    base, access_log = web
    user = make_user(email=f"{uuid.uuid4().hex[:12]}@workers.example")
    email = user.email  # read here: the threads below have no application context

    def attempt(_: int) -> int:
        return Browser(base).sign_in(email, "not the password")

    # The allowed failures come in waves as wide as the worker pool, so the kernel hands them to several
    # workers (one after another, a single worker may take them all); no wave crosses the limit.
    waves = [WORKERS] * (LOGIN_LIMIT // WORKERS) + [LOGIN_LIMIT % WORKERS] * bool(LOGIN_LIMIT % WORKERS)
    statuses = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for wave in waves:
            statuses += list(pool.map(attempt, range(wave)))
    statuses += [attempt(0), attempt(0)]
    assert statuses == [422] * LOGIN_LIMIT + [429, 429]
    time.sleep(0.5)  # gunicorn writes its access line after the answer
    answered_by = workers_that_answered(access_log, "POST", "/login")
    assert len(answered_by) == LOGIN_LIMIT + 2
    assert len(set(answered_by)) >= 2, f"every attempt reached one worker ({answered_by}): nothing was shared"
    # The right password is refused too while the account is locked, on whichever worker.
    assert Browser(base).sign_in(email, PASSWORD) == 429


def test_a_session_started_on_one_worker_is_honoured_by_the_others(app, web):
    base, access_log = web
    user = make_user(email=f"{uuid.uuid4().hex[:12]}@workers.example")
    browser = Browser(base)
    assert browser.sign_in(user.email, PASSWORD) == 302
    with ThreadPoolExecutor(WORKERS) as pool:  # in waves as wide as the pool, so several workers answer
        pages = list(pool.map(lambda _: browser.request("/dashboard"), range(12)))
    assert [status for status, _ in pages] == [200] * 12
    assert all(user.email in body or user.name in body for _, body in pages)
    time.sleep(0.5)
    assert len(set(workers_that_answered(access_log, "GET", "/dashboard"))) >= 2
    # Signed out on one worker (a POST with the session's CSRF token): every worker then refuses the cookie.
    token = browser.csrf_token("/dashboard")
    assert browser.request("/logout", {"csrf_token": token})[0] == 302
    assert {browser.request("/dashboard")[0] for _ in range(6)} == {302}
