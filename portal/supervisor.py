"""`make run`'s process supervision: each worker is restarted with backoff when it exits on its own.

A child that dies (a crash, kill -9, the OOM killer) is started again after 1 s, then 2, 4 ... at most
30 s while it keeps dying quickly; one that ran for a minute starts again from 1 s. Every exit and
restart is logged by the supervisor and written into the child's own log. Stopping (Ctrl-C, SIGTERM)
sends SIGTERM to every child, waits a few seconds, then kills what is left.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("upsconnect.supervisor")

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts its next restart from FIRST_BACKOFF_S
STOP_GRACE_S = 5.0


@dataclass
class Child:
    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None  # set while it waits to be started again
    _log: IO[bytes] | None = field(default=None, repr=False)


class Supervisor:
    """Starts children, restarts those that exit, stops them all."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.jobs: list[subprocess.Popen] = []  # one-off jobs (cron-like): waited for, never restarted

    def spawn(self, name: str, command: list[str], log_path: Path) -> Child:
        child = Child(name, command, log_path)
        self.children.append(child)
        self._start(child)
        return child

    def run_job(self, command: list[str], log_path: Path) -> None:
        self.jobs = [job for job in self.jobs if job.poll() is None]
        with log_path.open("ab") as output:
            self.jobs.append(subprocess.Popen(command, env=self.env, stdout=output, stderr=subprocess.STDOUT))

    def _start(self, child: Child) -> None:
        child._log = child._log or child.log_path.open("ab", buffering=0)
        child.process = subprocess.Popen(child.command, env=self.env, stdout=child._log, stderr=subprocess.STDOUT)
        child.started_at, child.restart_at = time.monotonic(), None

    def _note(self, child: Child, message: str, *, warning: bool = True) -> None:
        (log.warning if warning else log.info)("%s %s", child.name, message)
        if child._log is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            child._log.write(f"{stamp} [supervisor] {child.name} {message}\n".encode())

    def check(self) -> None:
        """Restart what exited, once its backoff has passed; call this a few times a second."""
        now = time.monotonic()
        self.jobs = [job for job in self.jobs if job.poll() is None]  # reap finished jobs
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                if now - child.started_at >= HEALTHY_AFTER_S:
                    child.backoff_s = FIRST_BACKOFF_S
                child.restart_at = now + child.backoff_s
                self._note(
                    child,
                    f"exited ({_exit_text(process.returncode)}) after {now - child.started_at:.0f} s; "
                    f"restarting in {child.backoff_s:.0f} s",
                )
                child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
                self._note(child, f"restarted (restart {child.restarts}, pid {child.process.pid})", warning=False)

    def stop(self) -> None:
        """SIGTERM to every child and job, then SIGKILL to any still running after STOP_GRACE_S."""
        running = [c.process for c in self.children if c.process is not None] + self.jobs
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %d did not stop in %.0f s; killing it", process.pid, STOP_GRACE_S)
                process.kill()
                process.wait(5)
        for child in self.children:
            if child._log is not None:
                child._log.close()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit {returncode}"
