"""The whole product on free ports for the browser journeys: broker, mail, webhook receiver, ingest, web, fleet.

`LabStack` is a context manager. Every child runs in its own session (process group) and is killed with
its group in `__exit__`, on failure too; an `atexit` guard does the same if the interpreter ends first.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from devicelink.brokers import EmbeddedBroker, PrivateMosquitto, free_port, mosquitto_binary
from devicelink.provisioning import claim_code, device_password, factory_key_from_env, manufacture
from portal.lab_mail import LabMailServer

ROOT = Path(__file__).resolve().parent.parent
PORTAL_MQTT_USER = "portal"
# UPSCONNECT_TEST_DATABASE=postgres (make test-postgres) runs a journey on a fresh PostgreSQL database.
POSTGRES_ADMIN_URL = os.environ.get("UPSCONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

_live_groups: set[int] = set()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_live_groups):
        _kill_group(pid, signal.SIGKILL)
        _live_groups.discard(pid)


def _exit_on_sigterm() -> None:
    """A SIGTERM to the test run (CI cancelling it) becomes SystemExit, so teardown and atexit still run."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        with contextlib.suppress(ValueError):  # not the main thread: leave it
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a child exited at start (exit {process.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:.0f} s; see {log}")


class LabStack:
    """A fresh portal in lab mode with a real broker, a simulated fleet, an SMTP server and a webhook receiver."""

    def __init__(
        self,
        workdir: Path,
        *,
        devices: int = 6,
        seed: int = 2611,
        speed: float = 1.0,
        interval: float = 1.0,
        factory_key: str = "e2e-factory-key",
    ) -> None:
        self.workdir = Path(workdir)
        self.logs = self.workdir / "logs"
        self.devices = devices
        self.seed = seed
        self.speed = speed
        self.interval = interval
        self.factory_key_text = factory_key
        self.factory_key = factory_key_from_env(factory_key)
        self.fleet = manufacture(devices, seed, factory_key=self.factory_key) if devices else []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.control_port = free_port()
        self.control_url = f"http://127.0.0.1:{self.control_port}"
        self.portal_password = secrets.token_urlsafe(18)
        self.broker: PrivateMosquitto | EmbeddedBroker | None = None
        self.broker_kind = ""
        self.mail: LabMailServer | None = None
        self.webhook: HTTPServer | None = None
        self.children: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}
        self.postgres_database = ""  # the database this stack created, dropped again by stop()

    def _database_url(self) -> str:
        if os.environ.get("UPSCONNECT_TEST_DATABASE") != "postgres":
            return f"sqlite:///{self.workdir / 'portal.db'}"
        name = f"upsconnect_e2e_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError:
            pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL} (set UPSCONNECT_TEST_POSTGRES_URL)")
        finally:
            admin.dispose()
        self.postgres_database = name
        return sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def _drop_database(self) -> None:
        if not self.postgres_database:
            return
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.postgres_database}" WITH (FORCE)'))
        finally:
            admin.dispose()
        self.postgres_database = ""

    # ------------------------------------------------------------------ helpers for tests
    @property
    def serials(self) -> list[str]:
        return [device.serial for device in self.fleet]

    def claim_code(self, serial: str) -> str:
        return claim_code(self.factory_key, serial)

    @property
    def outbox(self) -> Path:
        return self.workdir / "lab-outbox"

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )

    def provision_devices(self, serials: list[str]) -> None:
        """Give devices that were not made with the lab (a NUT bridge's UPSes) their broker login.

        The embedded broker derives every device's password from the factory key; Mosquitto reads a
        password file, so new serials are added to it as an operator adds a new device (docs/nut.md).
        """
        if isinstance(self.broker, PrivateMosquitto):
            self.broker.add_devices({serial: device_password(self.factory_key, serial) for serial in serials})

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LabStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        _exit_on_sigterm()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        mqtt_port = free_port()
        users = {PORTAL_MQTT_USER: self.portal_password}
        if mosquitto_binary():
            self.broker = PrivateMosquitto.for_factory(
                self.workdir / "mosquitto",
                self.serials,
                self.factory_key,
                port=mqtt_port,
                users=users,
                max_inflight_messages=1000,
            )
            self.broker_kind = "mosquitto"
        else:
            self.broker = EmbeddedBroker(port=mqtt_port, users=users, factory_key=self.factory_key)
            self.broker_kind = "embedded"
        self.broker.start()

        self.mail = LabMailServer(self.outbox)
        self.mail.start()
        self.webhook = HTTPServer(host="127.0.0.1", port=free_port())
        self.webhook.start()

        self.env = {
            **os.environ,
            "FLASK_APP": "portal",
            "PYTHONUNBUFFERED": "1",
            "UPSCONNECT_LAB_MODE": "1",
            "UPSCONNECT_DATABASE_URL": self._database_url(),
            "UPSCONNECT_SECRET_KEY": "e2e-secret",
            "UPSCONNECT_FACTORY_KEY": self.factory_key_text,
            "UPSCONNECT_PUBLIC_URL": self.url,
            "UPSCONNECT_RATELIMIT_ENABLED": "0",
            "UPSCONNECT_MQTT_URL": f"mqtt://{PORTAL_MQTT_USER}:{self.portal_password}@127.0.0.1:{self.broker.service_port}",
            "UPSCONNECT_MQTT_BROKER_KIND": self.broker_kind,
            "UPSCONNECT_BRIDGE_BROKER_URL": self.broker.url,  # bridges log in as devices, on the devices' port
            "UPSCONNECT_MAIL_SERVER": self.mail.host,
            "UPSCONNECT_MAIL_PORT": str(self.mail.port),
            "UPSCONNECT_LAB_OUTBOX_DIR": str(self.outbox),
            "UPSCONNECT_LAB_CONTROL_URL": self.control_url,
        }
        self.flask("db", "upgrade")
        self._spawn("ingest", [sys.executable, "-m", "flask", "ingest"])
        self._spawn("notify", [sys.executable, "-m", "flask", "notify", "--interval", "1"])
        web = self._spawn(
            "web",
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
                "--with-threads",
            ],
        )
        if self.fleet:
            fleet = self._spawn(
                "fleet",
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "fleet",
                    "--count",
                    str(self.devices),
                    "--seed",
                    str(self.seed),
                    "--broker",
                    f"mqtt://127.0.0.1:{mqtt_port}",  # the factory key comes by env, never in argv
                    "--control-port",
                    str(self.control_port),
                    "--interval",
                    str(self.interval),
                    "--speed",
                    str(self.speed),
                    *(
                        ["--provision-dir", str(self.broker.config_dir)]
                        if isinstance(self.broker, PrivateMosquitto)
                        else []
                    ),
                ],
            )
            wait_for_port(self.control_port, fleet, self.logs / "fleet.log")
        wait_for_port(self.port, web, self.logs / "web.log")

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            command,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.children[name] = process
        _live_groups.add(process.pid)
        return process

    def stop(self) -> None:
        # The fleet first (devices say goodbye), then the portal, then what they talk to.
        for name in ("fleet", "web", "notify", "ingest"):
            process = self.children.get(name)
            if process is not None and process.poll() is None:
                _kill_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _kill_group(process.pid, signal.SIGKILL)  # anything left in the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            _live_groups.discard(process.pid)
        self.children.clear()
        for closer in (self.broker, self.mail, self.webhook):
            if closer is None:
                continue
            with contextlib.suppress(Exception):
                if isinstance(closer, HTTPServer):
                    if closer.is_running():
                        closer.stop()
                else:
                    closer.stop()
        if isinstance(self.broker, PrivateMosquitto) and self.broker.log_path.exists():
            with contextlib.suppress(OSError):
                (self.logs / "mosquitto.log").write_bytes(self.broker.log_path.read_bytes())
        self.broker = self.mail = self.webhook = None
        self._drop_database()
