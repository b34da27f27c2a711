"""End-to-end fixtures: a real portal on a free port with a fresh database, driven by Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "e2e-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


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


class Portal:
    """The portal as a child process: web server on a free port, lab mode, its own SQLite file."""

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

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", *args], env=self.env, cwd=ROOT, check=True, capture_output=True, text=True,
        )

    def start(self) -> None:
        self.flask("db", "upgrade")
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(self.port), "--no-reload"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the portal exited at start; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the portal did not open port {self.port}; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def portal(tmp_path_factory):
    server = Portal(tmp_path_factory.mktemp("portal"))
    server.start()
    yield server
    server.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(server.log_path, ARTIFACTS / "portal.log")


@pytest.fixture(scope="session")
def base_url(portal):
    return portal.url


def pytest_configure(config):
    # On failure keep the trace and a screenshot under one folder (pytest-playwright's options).
    config.option.output = str(ARTIFACTS)
    if not config.option.tracing or config.option.tracing == "off":
        config.option.tracing = "retain-on-failure"
    if not config.option.screenshot or config.option.screenshot == "off":
        config.option.screenshot = "only-on-failure"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0 and ARTIFACTS.exists():
        terminalreporter.write_line(f"e2e artifacts (traces, screenshots, server logs): {ARTIFACTS}")
