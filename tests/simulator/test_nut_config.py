"""The NUT server's parsing, users file, limits and command-line flags (no NUT binaries needed)."""

from __future__ import annotations

import socket
import time

import pytest

from simulator.cli import main
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from simulator.nut_server import NutConfigError, NutServer, lab_users, parse_users, quote, split_words

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("GET VAR su700 ups.status", ["GET", "VAR", "su700", "ups.status"]),
        ('SET VAR su700 ups.id "My UPS"', ["SET", "VAR", "su700", "ups.id", "My UPS"]),
        (r'SET VAR u v "a \"quoted\" \\ and \# sign"', ["SET", "VAR", "u", "v", 'a "quoted" \\ and # sign']),
        ("password=secret # comment", ["password", "=", "secret"]),
        ('""', [""]),
        ("  \t\r", []),
        (r"bare\ word", ["bare word"]),
    ],
)
def test_split_words_follows_parseconf(line, words):
    assert split_words(line) == words


@pytest.mark.parametrize("line", ['GET VAR "open', 'GET "a#b"', "trailing\\"])
def test_split_words_refuses_broken_lines(line):
    with pytest.raises(ValueError):
        split_words(line)


def test_quote_escapes_backslash_quote_and_hash():
    assert quote('a "b" \\ #1') == r'"a \"b\" \\ \#1"'
    assert split_words(quote('a "b" \\ #1')) == ['a "b" \\ #1']


def test_users_file_in_upsd_users_format():
    users = parse_users(
        r"""
        # comment
        [admin]
            password = "pa ss\#1"  # NUT wants # escaped, even in quotes
            actions = SET
            actions = fsd
            instcmds = ALL
        [mon]
            password = x
            upsmon master
        [sec]
            password = y
            upsmon = secondary
            instcmds = test.battery.start beeper.mute
        """
    )
    assert users["admin"].password == "pa ss#1" and users["admin"].actions == {"SET", "FSD"}
    assert users["admin"].instcmds == {"all"}
    assert users["mon"].actions == {"LOGIN", "MASTER", "FSD"}
    assert users["sec"].actions == {"LOGIN"} and users["sec"].instcmds == {
        "test.battery.start",
        "beeper.mute",
    }
    assert users["mon"].summary() == "upsmon primary, actions FSD"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("password = x\n", r"must follow a \[username\]"),
        ("[a]\npassword = x\nupsmon boss\n", "primary or secondary"),
        ("[a]\npassword = x\nactions = REBOOT\n", "actions are SET and FSD"),
        ("[a]\nallowfrom = localhost\npassword = x\n", "unknown setting"),
        ("[a]\ninstcmds = ALL\n", "has no password"),
        ("# nobody\n", "no users"),
        ('[a]\npassword = "x\n', "line 2"),
    ],
)
def test_bad_users_files_say_what_is_wrong(text, message):
    with pytest.raises(NutConfigError, match=message):
        parse_users(text)


def test_lab_default_users_get_fresh_passwords():
    first, second = lab_users(), lab_users()
    assert set(first) == {"admin", "monitor"}
    assert first["admin"].password != second["admin"].password and len(first["admin"].password) >= 16
    assert first["admin"].summary() == "instcmds ALL, upsmon primary, actions FSD SET"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fleet", "--nut-users", "/no/such/file"], "--nut-users needs --nut-port"),
        (["fleet", "--nut-port", "0", "--nut-users", "/no/such/file"], "cannot read NUT users file"),
        (["fleet", "--nut-port", "70000"], "--nut-port"),
    ],
)
def test_bad_nut_flags_give_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_taken_nut_port_is_a_clear_message(capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["fleet", "--count", "1", "--nut-port", str(port), "--duration", "1"]) == 2
    assert (
        f"port {port} on 127.0.0.1 is already in use; choose another with --nut-port"
        in capsys.readouterr().err
    )


# ---------------------------------------------------------------- limits, on a real fleet in this process


@pytest.fixture
def fleet(embedded_broker, identities, wait_until):
    clock = SimClock(speed=1.0, start_s=1_700_000_000.0)
    devices = [SimulatedDevice(i, seed=7, sim_start_s=clock.start_s) for i in identities[:2]]
    fleet = Fleet(devices, embedded_broker.endpoint(), clock=clock, interval_s=0.2, backoff_min_s=0.1)
    fleet.start()
    wait_until(lambda: all(fleet.call(d.serial, lambda d: bool(d.last_telemetry)) for d in devices))
    yield fleet
    fleet.stop()


def _connect(server: NutServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _closed_by_server(sock: socket.socket, timeout_s: float = 10.0) -> bool:
    sock.settimeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1 << 20):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def test_idle_clients_are_shed(fleet):
    with NutServer(fleet, idle_timeout_s=0.5) as server, _connect(server) as idle, _connect(server) as busy:
        busy.sendall(b"NETVER\n")
        assert busy.recv(100) == b"1.3\n"
        assert _closed_by_server(idle, 5.0)


def test_clients_beyond_the_limit_are_turned_away(fleet):
    with NutServer(fleet, max_clients=2) as server:
        first, second = _connect(server), _connect(server)
        try:
            first.sendall(b"NETVER\n")
            assert first.recv(100) == b"1.3\n"
            with _connect(server) as third:
                assert _closed_by_server(third, 5.0)
            second.sendall(b"NETVER\n")
            assert second.recv(100) == b"1.3\n"
        finally:
            first.close()
            second.close()


def test_a_client_that_does_not_read_is_dropped(fleet):
    serial = next(iter(fleet.devices))
    with NutServer(fleet) as server, _connect(server) as greedy:
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = f"LIST VAR {serial}\n".encode() * 200
        deadline = time.monotonic() + 30
        with pytest.raises(OSError):  # reset once the server gives up on it
            while time.monotonic() < deadline:
                greedy.sendall(request)
                time.sleep(0.02)
        with _connect(server) as polite:
            polite.sendall(f"GET VAR {serial} device.serial\n".encode())
            assert polite.recv(200).decode() == f'VAR {serial} device.serial "{serial}"\n'


def test_stale_until_the_first_sample(embedded_broker, identities):
    clock = SimClock(speed=1.0, start_s=1_700_000_000.0)
    device = SimulatedDevice(identities[0], seed=7, sim_start_s=clock.start_s)
    fleet = Fleet([device], embedded_broker.endpoint(), clock=clock, interval_s=30.0)
    fleet.start()
    try:
        with NutServer(fleet) as server, _connect(server) as sock:
            sock.sendall(f"GET VAR {device.serial} ups.status\nLIST UPS\n".encode())
            reader = sock.makefile("r", encoding="ascii")
            assert reader.readline() == "ERR DATA-STALE\n"
            assert reader.readline() == "BEGIN LIST UPS\n"
    finally:
        fleet.stop()
