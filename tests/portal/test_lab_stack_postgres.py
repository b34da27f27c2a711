"""`make run` with UPSCONNECT_DATABASE_URL set to PostgreSQL: the migrations run there, and what the demo
fleet sends is stored (its sequence numbers start from simulated milliseconds, past 32 bits)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_ADMIN_URL, _postgres_reachable
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database of its own, as an operator creates one for upsconnect: empty, migrated by `make run`."""
    if not _postgres_reachable():
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL} (set UPSCONNECT_TEST_POSTGRES_URL)")
    name = f"upsconnect_run_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _stored(engine: sa.Engine) -> tuple[int, int]:
    try:
        with engine.connect() as conn:
            count, top = conn.execute(sa.text("SELECT count(*), coalesce(max(seq), 0) FROM telemetry_samples")).one()
        return count, top
    except sa.exc.ProgrammingError:  # the migrations have not created the table yet
        return 0, 0


def test_make_run_on_postgresql_stores_what_the_fleet_sends(tmp_path, empty_database):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCONNECT_", "FLASK_"))}
    env.update(
        UPSCONNECT_INSTANCE_PATH=str(tmp_path / "instance"), UPSCONNECT_LAB_MODE="1", FLASK_APP="portal",
        UPSCONNECT_DATABASE_URL=empty_database,
    )  # fmt: skip
    log_path = tmp_path / "stack.log"
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "portal.lab_stack", "--port", str(_free_port()), "--devices", "3", "--interval", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        family: list[psutil.Process] = []
        engine = sa.create_engine(empty_database)
        try:
            wait_until(lambda: _stored(engine)[0] >= 6, 120, "telemetry stored in PostgreSQL")
            count, top_seq = _stored(engine)
            assert top_seq > 2**31, "the fleet's sequence numbers fit 32 bits: this test proves nothing"
            assert "integer out of range" not in log_path.read_text()
            family = psutil.Process(stack.pid).children(recursive=True)
            os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C
            assert stack.wait(30) == 0
        finally:
            engine.dispose()
            if stack.poll() is None:
                family = family or psutil.Process(stack.pid).children(recursive=True)
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait(10)
            for process in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
