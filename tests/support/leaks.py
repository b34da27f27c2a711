"""A test run must leave no process behind: what the pytest process started and is still running at the
end of the session fails the run, named by its command line, and is then killed."""

from __future__ import annotations

import contextlib

import psutil
import pytest

# Started by libraries for the whole session and stopped by them at exit, not by a test.
SESSION_HELPERS = ("playwright", "chromium", "chrome", "node")


def leftover_children() -> list[psutil.Process]:
    """Children of this process (at any depth) still running, less zombies and session helpers."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            words = " ".join(child.cmdline()).lower()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(helper in words for helper in SESSION_HELPERS):
            continue
        found.append(child)
    return found


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:300]}"
    except psutil.Error:
        return f"pid {process.pid}: (gone)"


def check_session_left_no_children(session: pytest.Session) -> None:
    """Call from ``pytest_sessionfinish``: report leftovers as a failure, then kill them."""
    # a moment's grace: a process told to stop just before the end may still be exiting
    _, leftovers = psutil.wait_procs(leftover_children(), timeout=3)
    if not leftovers:
        return
    lines = "\n  ".join(describe(p) for p in leftovers)
    message = f"tests left {len(leftovers)} process(es) running (now killed):\n  {lines}"
    for process in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(leftovers, timeout=5)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "processes left running", red=True)
        reporter.write_line(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
