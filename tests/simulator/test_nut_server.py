"""The lab's NUT server, driven by the real NUT programs against ``python -m simulator fleet --nut-port 0``.

Every test starts the fleet through its command line in a process group of its own, against the
embedded broker of the test process, and ends that group; upsc/upscmd/upsrw/upsmon are the Debian
NUT 2.8 binaries, aionut the Python client Home Assistant uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devicelink.provisioning import FACTORY_KEY_ENV, manufacture
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ADMIN, ADMIN_PW = "admin", "lab-admin-pw"
MON, MON_PW = "upsmon", "lab-upsmon-pw"
VIEWER, VIEWER_PW = "viewer", "lab-viewer-pw"
USERS_FILE = f"""# upsd.users for the tests
[{ADMIN}]
    password = {ADMIN_PW}
    actions = SET
    instcmds = ALL

[{MON}]
    password = "{MON_PW}"
    upsmon primary

[{VIEWER}]
    password = {VIEWER_PW}
    instcmds = beeper.mute
"""

CLIENTS = ("upsc", "upscmd", "upsrw")


def _upsmon_binary() -> str | None:
    # Debian's /usr/sbin/upsmon is a wrapper that refuses to run while nut.conf says MODE=none
    for candidate in ("/lib/nut/upsmon", "/usr/lib/nut/upsmon"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("upsmon")


def _need(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"NUT client programs not installed: {', '.join(missing)} (apt-get install nut-client)")


class Lab:
    """``python -m simulator fleet`` in its own process group, with its log lines collected."""

    def __init__(self, args: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != FACTORY_KEY_ENV}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "fleet", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for(r"NUT server on 127\.0\.0\.1:(\d+)").group(1))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"the lab never logged {pattern!r}:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> None:
        pgid = self.proc.pid
        with _suppress_lookup():
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with _suppress_lookup():
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)
        _assert_group_gone(pgid)


class _suppress_lookup:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError


def _assert_group_gone(pgid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {pgid} are still running")


def _fleet_args(broker, users_file: Path, *extra: str) -> list[str]:
    return [
        "--broker",
        f"mqtt://portal:portal-secret@{broker.host}:{broker.port}",
        "--nut-port",
        "0",
        "--nut-users",
        str(users_file),
        *extra,
    ]


@pytest.fixture
def users_file(tmp_path) -> Path:
    path = tmp_path / "upsd.users"
    path.write_text(USERS_FILE)
    return path


@pytest.fixture
def lab(embedded_broker, users_file, watcher_factory) -> Iterator[tuple[Lab, list[str], object]]:
    """Two SMT1500IC on line, telemetry every 0.3 s, a watcher on the broker."""
    _need(*CLIENTS)
    watcher = watcher_factory(embedded_broker)
    serials = [i.serial for i in manufacture(2, 7, ["SMT1500IC"])]
    lab = Lab(
        _fleet_args(
            embedded_broker,
            users_file,
            "--count",
            "2",
            "--seed",
            "7",
            "--models",
            "SMT1500IC",
            "--interval",
            "0.3",
            "--speed",
            "5",
        )
    )
    try:
        yield lab, serials, watcher
    finally:
        lab.stop()


def run(*argv: str, timeout_s: float = 15.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)


def upsc(target: str) -> dict[str, str]:
    result = run("upsc", target)
    assert result.returncode == 0, result.stderr
    return dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)


def served(port: int, serial: str) -> dict[str, str] | None:
    """upsc's view once the UPS has data (before its first sample upsd-style DATA-STALE)."""
    result = run("upsc", f"{serial}@127.0.0.1:{port}")
    if result.returncode != 0:
        assert "Data stale" in result.stderr or "stale" in result.stderr.lower(), result.stderr
        return None
    return dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)


def telemetry(watcher, serial: str) -> list[dict]:
    return [json.loads(m.payload)["vars"] for m in watcher.topic(f"ups/{serial}/telemetry")]


def talk(port: int, *lines: bytes, expect: int, timeout_s: float = 10.0) -> list[str]:
    """Send raw request lines on one connection; return the first ``expect`` reply lines."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(b"".join(lines))
        data = b""
        deadline = time.monotonic() + timeout_s
        while data.count(b"\n") < expect and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode("ascii").splitlines()[:expect]


# ---------------------------------------------------------------- reading


def test_upsc_lists_what_the_device_publishes(lab):
    lab, serials, watcher = lab
    listed = run("upsc", "-l", f"127.0.0.1:{lab.port}")
    assert listed.returncode == 0 and listed.stdout.split() == serials
    serial = serials[0]
    nut = wait_until(lambda: served(lab.port, serial), what="data on the NUT server")
    published = wait_until(lambda: telemetry(watcher, serial), what="telemetry over MQTT")
    last = published[-1]
    assert nut["device.serial"] == nut["ups.serial"] == last["device.serial"] == serial
    assert nut["device.model"] == nut["ups.model"] == last["device.model"] == "SMT1500IC"
    assert nut["ups.firmware"] == last["ups.firmware"]
    assert nut["ups.status"] in {t["ups.status"] for t in published}
    assert set(last) <= set(nut), "every published variable is served"
    for name in ("battery.charge.low", "battery.runtime.low", "input.voltage.nominal", "battery.type"):
        assert nut[name] == str(last[name])
    assert nut["device.mfr"] == "American Power Conversion" and nut["ups.beeper.status"] == "enabled"
    single = run("upsc", f"{serial}@127.0.0.1:{lab.port}", "ups.status")
    assert single.returncode == 0 and single.stdout.strip() in {
        t["ups.status"] for t in telemetry(watcher, serial)
    }


def test_aionut_reads_the_same_values(lab):
    from aionut import AIONUTClient, NUTCommandError, NUTLoginError

    lab, serials, watcher = lab
    serial = serials[1]
    nut = wait_until(lambda: served(lab.port, serial), what="data on the NUT server")

    async def scenario():
        client = AIONUTClient("127.0.0.1", lab.port, ADMIN, ADMIN_PW, timeout=5.0)
        try:
            upses = await client.list_ups()
            variables = await client.list_vars(serial)
            commands = await client.list_commands(serial)
            description = await client.description(serial)
            answer = await client.run_command(serial, "beeper.mute")
            with pytest.raises(NUTCommandError, match="UNKNOWN-UPS"):
                await client.list_vars("NOSUCHUPS")
        finally:
            client.shutdown()
        denied = AIONUTClient("127.0.0.1", lab.port, ADMIN, "wrong", timeout=5.0)
        try:
            with pytest.raises(NUTLoginError, match="ACCESS-DENIED"):
                await denied.run_command(serial, "beeper.mute")
        finally:
            denied.shutdown()
        return upses, variables, commands, description, answer

    upses, variables, commands, description, answer = asyncio.run(scenario())
    assert set(upses) == set(serials) and description == "Simulated SMT1500IC"
    for name in ("device.serial", "device.model", "ups.model", "ups.firmware", "battery.type"):
        assert variables[name] == nut[name]
    assert {"test.battery.start", "load.off", "outlet.group.1.load.cycle", "beeper.mute"} <= commands
    assert answer == "OK"
    wait_until(
        lambda: any(t.get("ups.beeper.status") == "muted" for t in telemetry(watcher, serial)),
        what="ups.beeper.status muted over MQTT",
    )


# ---------------------------------------------------------------- commands


def test_upscmd_starts_a_self_test(lab):
    lab, serials, watcher = lab
    serial = serials[0]
    target = f"{serial}@127.0.0.1:{lab.port}"
    wait_until(lambda: served(lab.port, serial), what="data on the NUT server")
    listed = run("upscmd", "-l", target)
    assert "test.battery.start - Start a battery test" in listed.stdout
    result = run("upscmd", "-u", ADMIN, "-p", ADMIN_PW, target, "test.battery.start")
    assert result.returncode == 0 and "OK" in result.stdout + result.stderr, result.stderr
    wait_until(
        lambda: any(
            "Self-Test started" in json.loads(m.payload)["text"] for m in watcher.topic(f"ups/{serial}/event")
        ),
        what="the self-test event over MQTT",
    )
    wait_until(
        lambda: upsc(target)["ups.test.result"] == "Passed, Source: Protocol", what="the self-test result"
    )
    assert "NUT: admin@127.0.0.1 ran test.battery.start" in "\n".join(lab.lines)


def test_upsrw_sets_the_input_sensitivity(lab):
    lab, serials, watcher = lab
    serial = serials[1]
    target = f"{serial}@127.0.0.1:{lab.port}"
    wait_until(lambda: served(lab.port, serial), what="data on the NUT server")
    listing = run("upsrw", target)
    assert "[input.sensitivity]" in listing.stdout and 'Option: "Low"' in listing.stdout
    result = run("upsrw", "-s", "input.sensitivity=low", "-u", ADMIN, "-p", ADMIN_PW, target)
    assert result.returncode == 0 and "OK" in result.stdout + result.stderr, result.stderr
    wait_until(
        lambda: any(t["input.sensitivity"] == "Low" for t in telemetry(watcher, serial)),
        what="input.sensitivity Low in the next telemetry",
    )
    wait_until(lambda: upsc(target)["input.sensitivity"] == "Low", what="Low over NUT")
    readonly = run("upsrw", "-s", "ups.load=5", "-u", ADMIN, "-p", ADMIN_PW, target)
    assert readonly.returncode != 0 and "READONLY" in readonly.stderr + readonly.stdout
    bad = run("upsrw", "-s", "input.sensitivity=extreme", "-u", ADMIN, "-p", ADMIN_PW, target)
    assert bad.returncode != 0 and "INVALID-VALUE" in bad.stderr + bad.stdout


def test_refusals_and_bad_input(lab):
    lab, serials, _watcher = lab
    serial = serials[0]
    target = f"{serial}@127.0.0.1:{lab.port}"
    wait_until(lambda: served(lab.port, serial), what="data on the NUT server")

    wrong = run("upscmd", "-u", ADMIN, "-p", "not-the-password", target, "test.battery.start")
    assert wrong.returncode != 0 and "ACCESS-DENIED" in wrong.stderr + wrong.stdout
    not_granted = run("upscmd", "-u", VIEWER, "-p", VIEWER_PW, target, "load.off")
    assert not_granted.returncode != 0 and "ACCESS-DENIED" in not_granted.stderr + not_granted.stdout
    unknown = run("upsc", f"NOSUCHUPS@127.0.0.1:{lab.port}")
    assert unknown.returncode != 0 and "Unknown UPS" in unknown.stderr
    unsupported = run("upscmd", "-u", ADMIN, "-p", ADMIN_PW, target, "test.battery.stop")
    assert unsupported.returncode != 0 and "CMD-NOT-SUPPORTED" in unsupported.stderr + unsupported.stdout

    replies = talk(
        lab.port,
        b"FROBNICATE the ups\n",
        b"x" * 5000 + b"\n",
        bytes(range(256)) * 4 + b"\n",
        b'GET VAR "unbalanced\n',
        b"INSTCMD " + serial.encode() + b" load.off\n",
        b"GET VAR " + serial.encode() + b" device.serial\n",
        expect=10,
    )
    assert replies[0] == "ERR UNKNOWN-COMMAND"
    assert replies[1] == "ERR TOO-LONG"
    # bytes 0-255 hold one newline each time round: the blob is five lines, each refused
    assert replies[2:7] == ["ERR INVALID-ARGUMENT"] * 5
    assert replies[7:] == [
        "ERR INVALID-ARGUMENT",
        "ERR USERNAME-REQUIRED",
        f'VAR {serial} device.serial "{serial}"',
    ]

    replies = talk(
        lab.port,
        b"x" * 20000,  # no newline at all: answered once, the rest discarded up to the next newline
        b"\nGET VAR " + serial.encode() + b" device.serial\n",
        b'GET VAR "unbalanced\n',
        b"INSTCMD " + serial.encode() + b" load.off\n",
        b"USERNAME someone\nUSERNAME again\nPASSWORD pw\nINSTCMD " + serial.encode() + b" nosuch.cmd\n",
        b"STARTTLS\nNETVER\n",
        expect=9,
    )
    assert replies == [
        "ERR TOO-LONG",
        f'VAR {serial} device.serial "{serial}"',
        "ERR INVALID-ARGUMENT",
        "ERR USERNAME-REQUIRED",
        "OK",
        "ERR ALREADY-SET-USERNAME",
        "OK",
        "ERR CMD-NOT-SUPPORTED",
        "ERR FEATURE-NOT-CONFIGURED",
    ]
    # and the server still serves everyone
    assert upsc(target)["device.serial"] == serial


def test_fsd_login_and_clients(lab):
    lab, serials, _watcher = lab
    serial, other = serials
    wait_until(lambda: served(lab.port, serial) and served(lab.port, other), what="data on the NUT server")
    with socket.create_connection(("127.0.0.1", lab.port), timeout=10) as primary:
        primary.sendall(
            f"USERNAME {MON}\nPASSWORD {MON_PW}\nLOGIN {serial}\nPRIMARY {serial}\nMASTER {serial}\n".encode()
        )
        reader = primary.makefile("r", encoding="ascii")
        assert [reader.readline().strip() for _ in range(5)] == [
            "OK",
            "OK",
            "OK",
            "OK PRIMARY-GRANTED",
            "OK MASTER-GRANTED",
        ]
        assert talk(lab.port, f"GET NUMLOGINS {serial}\n".encode(), expect=1) == [f"NUMLOGINS {serial} 1"]
        assert talk(lab.port, f"LIST CLIENT {serial}\n".encode(), expect=3) == [
            f"BEGIN LIST CLIENT {serial}",
            f"CLIENT {serial} 127.0.0.1",
            f"END LIST CLIENT {serial}",
        ]
        primary.sendall(f"FSD {serial}\n".encode())
        assert reader.readline().strip() == "OK FSD-SET"
        # a secondary sees the latch; the other UPS does not
        status = upsc(f"{serial}@127.0.0.1:{lab.port}")["ups.status"]
        assert status.startswith("FSD ")
        assert "FSD" not in upsc(f"{other}@127.0.0.1:{lab.port}")["ups.status"]
        denied = talk(lab.port, f"USERNAME {ADMIN}\nPASSWORD {ADMIN_PW}\nFSD {other}\n".encode(), expect=3)
        assert denied == ["OK", "OK", "ERR ACCESS-DENIED"]
        primary.sendall(b"LOGOUT\n")
        assert reader.readline().strip() == "OK Goodbye"
        assert reader.readline() == ""  # the server closes after the goodbye
    wait_until(
        lambda: talk(lab.port, f"GET NUMLOGINS {serial}\n".encode(), expect=1) == [f"NUMLOGINS {serial} 0"],
        what="the login to end with the connection",
    )


# ---------------------------------------------------------------- upsmon


SHUTDOWN_SCRIPT = """#!/bin/sh
date +%s.%N > "{flag}"
"""


@pytest.mark.timeout(240)
def test_upsmon_shuts_down_on_low_battery_and_not_before(embedded_broker, users_file, tmp_path):
    _need("upsc")
    upsmon = _upsmon_binary()
    if upsmon is None:
        pytest.skip("upsmon is not installed (apt-get install nut-client)")
    if os.geteuid() != 0:
        pytest.skip("upsmon runs its SHUTDOWNCMD only as root here (-p keeps it privileged)")
    serial = manufacture(1, 3, ["SMT750IC"])[0].serial
    lab = Lab(
        _fleet_args(
            embedded_broker,
            users_file,
            *("--count", "1", "--seed", "3", "--models", "SMT750IC", "--interval", "0.5", "--speed", "100"),
            *("--control-port", "0"),
        )
    )
    monitor = None
    try:
        control = lab.wait_for(r"control API on (http://\S+)").group(1)
        target = f"{serial}@127.0.0.1:{lab.port}"
        wait_until(lambda: served(lab.port, serial), what="data on the NUT server")

        conf, state = tmp_path / "nut-conf", tmp_path / "nut-state"
        conf.mkdir()
        state.mkdir()
        flag = tmp_path / "shutdown-ran"
        script = tmp_path / "shutdown.sh"
        script.write_text(SHUTDOWN_SCRIPT.format(flag=flag))
        script.chmod(0o755)
        (conf / "upsmon.conf").write_text(
            f"MONITOR {target} 1 {MON} {MON_PW} primary\n"
            "MINSUPPLIES 1\n"
            f'SHUTDOWNCMD "{script}"\n'
            "POLLFREQ 1\nPOLLFREQALERT 1\nDEADTIME 15\nHOSTSYNC 5\nFINALDELAY 0\n"
            f'POWERDOWNFLAG "{state / "killpower"}"\n'
        )
        (conf / "upsmon.conf").chmod(0o600)
        env = {
            **os.environ,
            "NUT_CONFPATH": str(conf),
            "NUT_STATEPATH": str(state),
            "NUT_ALTPIDPATH": str(state),
        }
        monitor = subprocess.Popen(
            [upsmon, "-D", "-F", "-p"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(
            lambda: (
                talk(lab.port, f"GET NUMLOGINS {serial}\n".encode(), expect=1) == [f"NUMLOGINS {serial} 1"]
            ),
            what="upsmon to log in",
        )

        # the power cut, as a scenario posted to the running lab
        body = b'name = "power cut"\n[[event]]\nat = "0s"\nkind = "blackout"\nduration = "10h"\n'
        request = urllib.request.Request(control + "/scenario", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

        # on battery but not low: upsmon polls every second and must not shut down
        on_battery = wait_until(
            lambda: (s := upsc(target)["ups.status"]).startswith("OB") and "LB" not in s, what="on battery"
        )
        seen_ob = time.monotonic()
        while time.monotonic() - seen_ob < 3.0:
            status = upsc(target)["ups.status"]
            if "LB" in status or "FSD" in status:
                break
            assert not flag.exists(), f"upsmon shut down while the UPS was {status!r}"
            time.sleep(0.2)
        assert on_battery and not flag.exists()

        # the battery runs low: upsmon sets FSD and runs the shutdown command
        wait_until(flag.exists, timeout_s=120, what="upsmon to run SHUTDOWNCMD")
        status = upsc(target)["ups.status"]
        assert status.startswith("FSD ") and ("LB" in status or "OFF" in status), status
        assert f"set forced shutdown (FSD) on UPS {serial}" in "\n".join(lab.lines)
    finally:
        if monitor is not None:
            with _suppress_lookup():
                os.killpg(monitor.pid, signal.SIGTERM)
            try:
                monitor.wait(10)
            except subprocess.TimeoutExpired:
                with _suppress_lookup():
                    os.killpg(monitor.pid, signal.SIGKILL)
                monitor.wait(5)
            _assert_group_gone(monitor.pid)
        lab.stop()
