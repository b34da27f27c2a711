"""End-to-end fixtures: the whole product on free ports (e2e/stack.py), driven by headless Chromium.

On failure pytest-playwright keeps a trace and a screenshot per test under e2e-artifacts/, and the server
logs of every stack are copied to e2e-artifacts/server-logs/; the summary prints where.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.lab_control import LabControl
from e2e.stack import LabStack, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "e2e-artifacts"
SERVER_LOGS = ARTIFACTS / "server-logs"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
_stacks: list[tuple[str, Path]] = []  # (name, logs folder) of every stack started in this run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _system_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Use the system Chromium where one is installed, Playwright's own browser otherwise."""
    args = {**browser_type_launch_args, "args": CHROMIUM_FLAGS}
    executable = _system_chromium()
    if executable:
        args["executable_path"] = executable
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


class Portal:
    """The web portal and its mail worker (`flask notify`) as child processes: lab mode, its own SQLite file, no fleet."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "portal.log"
        self.env = {
            **os.environ,
            "FLASK_APP": "portal",
            "UPSCONNECT_LAB_MODE": "1",
            "UPSCONNECT_DATABASE_URL": f"sqlite:///{workdir / 'portal.db'}",
            "UPSCONNECT_SECRET_KEY": "e2e-secret",
            "UPSCONNECT_FACTORY_KEY": "e2e-factory-key",
            "UPSCONNECT_PUBLIC_URL": self.url,
            "UPSCONNECT_RATELIMIT_ENABLED": "0",
        }
        self.process: subprocess.Popen | None = None
        self.notify: subprocess.Popen | None = None

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )

    def start(self) -> None:
        self.flask("db", "upgrade")
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-reload",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _stacks.append((f"portal-{self.port}", self.log_path))
        wait_for_port(self.port, self.process, self.log_path)
        # Every email leaves through the outbox, so the worker that delivers it runs beside the web process.
        self.notify = subprocess.Popen(
            [sys.executable, "-m", "flask", "notify", "--interval", "0.5"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for process in (self.notify, self.process):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_stack(tmp_path_factory, name: str, **options) -> LabStack:
    stack = LabStack(tmp_path_factory.mktemp(name), **options)
    _stacks.append((name, stack.logs))
    return stack


@pytest.fixture(scope="session")
def lab_stack(tmp_path_factory):
    """One shared stack: broker, ingest, web, a 7-device fleet, lab SMTP and a webhook receiver.

    Each journey claims its own devices by index (0 registration, 1 power event, 2-3 remote control,
    4 isolation, 5 buy online, 6 API tokens): a serial claimed by one journey is refused to the next."""
    with start_stack(tmp_path_factory, "shared-stack", devices=7, seed=2611) as stack:
        yield stack


@pytest.fixture(scope="session")
def portal(lab_stack):
    return lab_stack


@pytest.fixture(scope="session")
def base_url(portal):
    return portal.url


@pytest.fixture(scope="session")
def lab_control(lab_stack) -> LabControl:
    return LabControl(lab_stack.control_url)


@pytest.fixture(scope="session")
def webhook_receiver(lab_stack):
    """The stack's local webhook receiver (pytest-httpserver): point Slack/Teams routes at its url_for()."""
    return lab_stack.webhook


@pytest.fixture(scope="session")
def mail_outbox(lab_stack) -> Path:
    """Folder where the lab SMTP server keeps every message (.eml); the Lab › Outbox page reads it."""
    return lab_stack.outbox


def pytest_configure(config):
    # On failure keep the trace and a screenshot under one folder (pytest-playwright's options).
    config.option.output = str(ARTIFACTS)
    if not config.option.tracing or config.option.tracing == "off":
        config.option.tracing = "retain-on-failure"
    if not config.option.screenshot or config.option.screenshot == "off":
        config.option.screenshot = "only-on-failure"


def pytest_sessionfinish(session, exitstatus):
    """Keep the server logs of a failed run; fail the run if a test left a child process running."""
    from tests.support.leaks import check_session_left_no_children

    check_session_left_no_children(session)
    if session.exitstatus == 0:
        return
    for name, logs in _stacks:
        if not logs.exists():
            continue
        target = SERVER_LOGS / name
        target.mkdir(parents=True, exist_ok=True)
        if logs.is_file():
            shutil.copy(logs, target / logs.name)
        else:
            shutil.copytree(logs, target, dirs_exist_ok=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0 and ARTIFACTS.exists():
        terminalreporter.write_line(f"e2e artifacts (traces, screenshots, server logs): {ARTIFACTS}")


# ---------------------------------------------------------------------- steps the journeys share
PASSWORD = "a long enough password"


def sign_up(
    page, url: str, *, company: str, name: str, email: str, partner: bool = False, country: str = "Ireland"
) -> None:
    """A new company signs up from the public page and lands on its dashboard."""
    from playwright.sync_api import expect

    page.goto(f"{url}/signup")
    page.get_by_label("Company name").fill(company)
    if partner:
        page.get_by_label("Partner (reseller or service provider)").check()
    page.get_by_label("Country").fill(country)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def claim_device(page, url: str, lab: LabControl, serial: str) -> int:
    """Read the registration code off the device's LCD and claim it; returns the device page id."""
    code = lab.lcd(serial)["registration_code"]
    page.goto(f"{url}/dashboard")
    page.get_by_role("link", name="Claim a device").click()
    return claim_with_code(page, serial, code)


def claim_with_code(page, serial: str, code: str, url: str | None = None) -> int:
    """Fill the claim form (opened at ``url``/devices/claim when given) and return the device page id."""
    import re

    from playwright.sync_api import expect

    if url is not None:
        page.goto(f"{url}/devices/claim")
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Registration code").fill(code)
    page.get_by_role("button", name="Claim device").click()
    expect(page).to_have_url(re.compile(r"/devices/\d+$"), timeout=15_000)
    return int(page.url.rsplit("/", 1)[1])


def capture(page, name: str) -> None:
    """Screenshots for the docs, on request only: with UPSCONNECT_SCREENSHOTS=1 into docs/screenshots/, with
    UPSCONNECT_SCREENSHOTS=<folder> into that folder; the page at phone (390 px) and desktop (1280 px) width."""
    wanted = os.environ.get("UPSCONNECT_SCREENSHOTS")
    if not wanted:
        return
    folder = Path(__file__).resolve().parents[1] / "docs" / "screenshots" if wanted == "1" else Path(wanted)
    folder.mkdir(parents=True, exist_ok=True)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def reload_until_visible(page, locator, *, timeout_s: float = 30, each_ms: int = 2_000) -> None:
    """For parts of a page that do not refresh by themselves (the event log): reload until the text shows.

    Each round is a Playwright expectation with a short timeout, so the wait ends as soon as a user would see it.
    """

    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            expect(locator).to_be_visible(timeout=each_ms)
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            page.reload()


def order_licenses(page, url: str, *, sku: str, quantity: int, po: str, customer: str) -> str:
    """A partner orders licenses; the activation code is read from the e-mail in the Lab Outbox."""
    import re

    from playwright.sync_api import expect

    page.goto(f"{url}/partner/orders")
    page.get_by_label("Customer").fill(customer)
    page.get_by_label("Product (SKU)").select_option(sku)
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_label("PO number").fill(po)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile(r"The activation code is on its way by email to"))).to_be_visible()
    page.goto(f"{url}/lab/outbox")
    subject = re.compile(rf"Activation code for {quantity} x {sku} \(PO {re.escape(po)}\)")
    reload_until_visible(page, page.get_by_role("link", name=subject).first)
    page.get_by_role("link", name=subject).first.click()
    body = page.locator("#message-body").inner_text()
    return re.search(r"Activation code:\s+(\S+)", body).group(1)


def assign_license(page, url: str, *, serial: str, code: str) -> None:
    """Assign one license of an activation code to one device, through the assignment pages."""
    from playwright.sync_api import expect

    page.goto(f"{url}/partner/assign")
    page.locator(f'tr[data-serial="{serial}"] input[type=checkbox]').check()
    page.get_by_label("Activation code").fill(code)
    page.get_by_role("button", name="Next: review dates").click()
    page.get_by_role("button", name="Confirm and assign 1 license").click()
    expect(page.locator(f'#assigned tr[data-serial="{serial}"]')).to_be_visible()
