"""A real upsd with the dummy-ups driver replaying NUT device dumps, in a temp dir on a free port.

Debian installs the programs under /lib/nut. Run as root, upsd and the drivers would switch to the
``nut`` user, who cannot read a test's files: they are started with ``-u root`` then, and as the
current user otherwise.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devicelink.brokers import free_port, wait_for_port

NUT_DIRS = (Path("/lib/nut"), Path("/usr/lib/nut"))
DUMPS = Path(__file__).resolve().parents[1] / "data" / "nut-ddl"  # real readouts, kept in the repository
SMT750_DUMP = "APC__Smart-UPS_750__apc_modbus__2.8.2__01.dev"
SMT2200_ON_BATTERY_DUMP = "APC__Smart-UPS_2200__usbhid-ups__2.7.4__01.dev"


def nut_program(name: str) -> Path | None:
    for folder in NUT_DIRS:
        if (folder / name).exists():
            return folder / name
    return None


def missing_reason() -> str | None:
    """Why a real upsd cannot run here (the tests skip with it), else None."""
    for name in ("upsd", "dummy-ups"):
        if nut_program(name) is None:
            return f"{name} is not installed (Debian packages nut-server and nut-client; .ci/run installs them)"
    return None


class DummyUpsd:
    """``upsd`` plus one ``dummy-ups`` per dump; ``users`` is an upsd.users text."""

    def __init__(self, workdir: Path, dumps: dict[str, str], users: str) -> None:
        self.dir = Path(workdir)
        self.dumps = dumps
        self.users = users
        self.port = free_port()
        self.env = {**os.environ, "NUT_CONFPATH": str(self.dir), "NUT_STATEPATH": str(self.dir),
                    "NUT_ALTPIDPATH": str(self.dir)}
        self._user = ["-u", "root"] if os.geteuid() == 0 else ["-u", getpass.getuser()]

    def dump_path(self, ups: str) -> Path:
        return self.dir / f"{ups}.dev"

    def start(self) -> DummyUpsd:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        conf = []
        for ups, dump in self.dumps.items():
            shutil.copy(DUMPS / dump, self.dump_path(ups))
            conf += [f"[{ups}]", "  driver = dummy-ups", f"  port = {self.dump_path(ups)}", "  mode = dummy-once", ""]
        (self.dir / "ups.conf").write_text("\n".join(conf))
        (self.dir / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\n")
        users = self.dir / "upsd.users"
        users.write_text(self.users)
        users.chmod(0o600)
        for ups in self.dumps:
            self.start_driver(ups)
        subprocess.run([str(nut_program("upsd")), *self._user], env=self.env, check=True, capture_output=True, timeout=20)
        if not wait_for_port("127.0.0.1", self.port, 10):
            raise RuntimeError(f"upsd did not listen on {self.port}")
        return self

    def start_driver(self, ups: str) -> None:
        subprocess.run([str(nut_program("dummy-ups")), "-a", ups, *self._user], env=self.env, check=True,
                       capture_output=True, timeout=20)

    def _pid(self, name: str) -> int | None:
        path = self.dir / f"{name}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop_driver(self, ups: str) -> None:
        """Stop one driver: upsd then answers DRIVER-NOT-CONNECTED for that UPS."""
        self._terminate(self._pid(f"dummy-ups-{ups}"))

    def set_variable(self, ups: str, name: str, value: str) -> None:
        """Rewrite one variable in the dump; dummy-once re-reads a file whose timestamp changed."""
        path = self.dump_path(ups)
        lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{name}:")]
        path.write_text("\n".join([*lines, f"{name}: {value}", ""]))
        stamp = time.time() + 1
        os.utime(path, (stamp, stamp))

    def _terminate(self, pid: int | None) -> None:
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        self._terminate(self._pid("upsd"))
        for ups in self.dumps:
            self.stop_driver(ups)

    def __enter__(self) -> DummyUpsd:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
