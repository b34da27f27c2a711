"""A Network UPS Tools data server for the lab: ``upsd``'s text protocol over TCP, one UPS per device.

Real NUT clients (``upsc``, ``upscmd``, ``upsrw``, ``upsmon``, Home Assistant's ``aionut``) read and
command the simulated fleet as if a ``upsd`` were in front of it. Each UPS is named by its serial.
Its variables are the telemetry the device last published over MQTT (the same dict), plus the identity
NUT clients expect (``ups.model``, ``ups.mfr``...); commands go to the device's own command handlers on
its shard thread through ``Fleet.call``. The replies, their order of checks and their error words follow
``upsd`` (NUT 2.8, network protocol 1.3): see docs/nut.md for the mapping and for where the lab differs.

One thread runs a ``selectors`` loop over every client; a client that stays silent for a minute, sends
a line longer than NUT's limit, or stops reading its replies is bounded (error or disconnect) without
disturbing the others.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import secrets
import selectors
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelink.contract import CommandType

log = logging.getLogger(__name__)

NUT_VERSION = "2.8.0"  # the upsd release whose behaviour is followed
PROTOCOL_VERSION = "1.3"
MAX_LINE_BYTES = 4096  # NUT's LARGEBUF: a longer request line is answered ERR TOO-LONG
MAX_WORD_CHARS = 512  # parseconf's word limit (upsd truncates silently; the lab says INVALID-ARGUMENT)
MAX_WORDS = 32  # parseconf's argument limit
MAX_CLIENTS = 256
IDLE_TIMEOUT_S = 60.0  # upsd sheds a client after a minute without a complete request
MAX_PENDING_OUTPUT_BYTES = 1024 * 1024  # a client that does not read its replies is dropped
STALE_AFTER_INTERVALS = 3  # no telemetry for three intervals: ERR DATA-STALE, as a dead driver gives
MANUFACTURER = "American Power Conversion"
SENSITIVITIES = ("Normal", "Reduced", "Low")
TRACKING_KEEP = 1000

HELP_TEXT = "Commands: HELP VER PROTVER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS"

# descriptions as NUT's cmdvartab words them (GET DESC / GET CMDDESC)
VAR_DESCRIPTIONS = {
    "battery.charge": "Battery charge (percent of full)",
    "battery.charge.low": "Remaining battery level when UPS switches to LB (percent)",
    "battery.charge.warning": "Battery level when UPS switches to Warning state (percent)",
    "battery.date": "Battery change date",
    "battery.date.maintenance": "Battery replacement date",
    "battery.runtime": "Battery runtime (seconds)",
    "battery.runtime.low": "Remaining battery runtime when UPS switches to LB (seconds)",
    "battery.temperature": "Battery temperature (degrees C)",
    "battery.type": "Battery chemistry",
    "battery.voltage": "Battery voltage (V)",
    "battery.voltage.nominal": "Nominal battery voltage (V)",
    "device.mfr": "Device manufacturer",
    "device.model": "Device model",
    "device.serial": "Device serial number",
    "device.type": "Device type",
    "experimental.calibration.result": "Result of the last runtime calibration",
    "input.frequency": "Input line frequency (Hz)",
    "input.sensitivity": "Input power sensitivity",
    "input.transfer.high": "High voltage transfer point (V)",
    "input.transfer.low": "Low voltage transfer point (V)",
    "input.transfer.reason": "Reason for last transfer to battery",
    "input.voltage": "Input voltage (V)",
    "input.voltage.nominal": "Nominal input voltage (V)",
    "outlet.group.count": "Total number of outlet groups",
    "output.current": "Output current (A)",
    "output.frequency": "Output frequency (Hz)",
    "output.voltage": "Output voltage (V)",
    "output.voltage.nominal": "Nominal output voltage (V)",
    "ups.beeper.status": "UPS beeper status",
    "ups.firmware": "UPS firmware",
    "ups.load": "Load on UPS (percent of full)",
    "ups.mfr": "UPS manufacturer",
    "ups.model": "UPS model",
    "ups.power.nominal": "UPS power rating (VA)",
    "ups.realpower": "Current value of real power (W)",
    "ups.realpower.nominal": "UPS real power rating (W)",
    "ups.serial": "UPS serial number",
    "ups.status": "UPS status",
    "ups.temperature": "UPS temperature (degrees C)",
    "ups.test.result": "Results of last self test",
}
GROUP_VAR_DESCRIPTIONS = {
    "name": "Outlet group name",
    "status": "Outlet group status",
    "realpower": "Outlet group real power (W)",
    "delay.reboot": "Interval to wait before restarting this outlet group (seconds)",
}


class NutConfigError(ValueError):
    """A bad users file or server setting; the message is meant for a person."""


class _ParseError(ValueError):
    pass


class _NutError(Exception):
    """An ``ERR <word>`` answer."""

    def __init__(self, word: str) -> None:
        super().__init__(word)
        self.word = word


# ---------------------------------------------------------------- quoting (NUT's parseconf rules)


def split_words(line: str) -> list[str]:
    """Split one request line as NUT's parseconf does: spaces separate words, ``"..."`` groups,
    backslash takes the next character literally, ``#`` starts a comment, ``=`` is a word of its own.
    Raises ValueError for unbalanced quotes, a ``#`` inside quotes or a trailing backslash."""
    words: list[str] = []
    word: list[str] | None = None
    quoted = False
    chars = iter(line)
    for ch in chars:
        if quoted:
            assert word is not None
            if ch == '"':
                words.append("".join(word))
                word, quoted = None, False
            elif ch == "\\":
                nxt = next(chars, None)
                if nxt is None:
                    raise _ParseError("backslash at the end of the line")
                word.append(nxt)
            elif ch == "#":
                raise _ParseError("unbalanced word due to unescaped # in quotes")
            else:
                word.append(ch)
            continue
        if word is None:
            if ch == "#":
                break
            if ch.isspace():
                continue
            if ch == '"':
                word, quoted = [], True
            elif ch == "\\":
                nxt = next(chars, None)
                if nxt is None:
                    raise _ParseError("backslash at the end of the line")
                word = [nxt]
            elif ch == "=":
                words.append("=")
            else:
                word = [ch]
            continue
        if ch == "#" or ch.isspace() or ch == "=":
            words.append("".join(word))
            word = None
            if ch == "#":
                break
            if ch == "=":
                words.append("=")
        elif ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise _ParseError("backslash at the end of the line")
            word.append(nxt)
        else:
            word.append(ch)
    if quoted:
        raise _ParseError("unbalanced quotes")
    if word is not None:
        words.append("".join(word))
    return words


def quote(value: str) -> str:
    """A value between double quotes with ``\\``, ``"`` and ``#`` escaped (NUT's pconf_encode)."""
    escaped = "".join("\\" + ch if ch in '\\"#' else ch for ch in value)
    return f'"{escaped}"'


def _text(value: Any) -> str:
    """A telemetry value as NUT writes it: decimal numbers with a dot, never an exponent; ASCII."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "0"
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text
    text = str(value)
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)


# ---------------------------------------------------------------- users (upsd.users)


@dataclass
class NutUser:
    """One section of ``upsd.users``."""

    name: str
    password: str = ""
    actions: set[str] = field(default_factory=set)  # upper case: SET, FSD, LOGIN, MASTER, PRIMARY
    instcmds: set[str] = field(default_factory=set)  # lower case; "all" grants every command

    def summary(self) -> str:
        parts = []
        if self.instcmds:
            parts.append("instcmds " + " ".join(sorted("ALL" if c == "all" else c for c in self.instcmds)))
        if "MASTER" in self.actions:
            parts.append("upsmon primary")
        elif "LOGIN" in self.actions:
            parts.append("upsmon secondary")
        if actions := sorted(self.actions & {"SET", "FSD"}):
            parts.append("actions " + " ".join(actions))
        return ", ".join(parts) or "read-only"


def parse_users(text: str, source: str = "upsd.users") -> dict[str, NutUser]:
    """Users from text in ``upsd.users`` format: ``[name]`` sections with ``password``, ``actions``,
    ``instcmds`` and ``upsmon primary|secondary`` (``master``/``slave`` accepted)."""
    users: dict[str, NutUser] = {}
    current: NutUser | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{source} line {number}"
        try:
            words = split_words(raw)
        except ValueError as exc:
            raise NutConfigError(f"{where}: {exc}") from None
        if not words:
            continue
        first = words[0]
        if first.startswith("[") and first.endswith("]") and len(words) == 1:
            name = first[1:-1]
            if not name or any(ch.isspace() for ch in name):
                raise NutConfigError(f"{where}: a user name must be one word, got {first!r}")
            current = users[name] = NutUser(name)
            continue
        if current is None:
            raise NutConfigError(f"{where}: settings must follow a [username] line")
        setting = first.lower()
        if len(words) >= 3 and words[1] == "=":
            values = words[2:]
        elif setting == "upsmon" and len(words) == 2:
            values = words[1:]
        else:
            raise NutConfigError(f"{where}: expected 'setting = value', got {raw.strip()!r}")
        match setting:
            case "password":
                current.password = values[0]
            case "actions":
                for action in values:
                    if action.upper() not in ("SET", "FSD"):
                        raise NutConfigError(f"{where}: actions are SET and FSD, got {action!r}")
                    current.actions.add(action.upper())
            case "instcmds":
                current.instcmds.update(value.lower() for value in values)
            case "upsmon":
                kind = values[0].lower()
                if kind in ("primary", "master"):
                    current.actions.update({"LOGIN", "MASTER", "FSD"})
                elif kind in ("secondary", "slave"):
                    current.actions.add("LOGIN")
                else:
                    raise NutConfigError(f"{where}: upsmon must be primary or secondary, got {values[0]!r}")
            case _:
                raise NutConfigError(
                    f"{where}: unknown setting {first!r} (password, actions, instcmds, upsmon)"
                )
    for user in users.values():
        if not user.password:
            raise NutConfigError(f"{source}: user {user.name!r} has no password")
    if not users:
        raise NutConfigError(f"{source}: no users defined")
    return users


def load_users(path: str | Path) -> dict[str, NutUser]:
    """Read an ``upsd.users`` file."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise NutConfigError(f"cannot read NUT users file {path}: {exc}") from None
    return parse_users(text, str(path))


def lab_users() -> dict[str, NutUser]:
    """The default when no users file is given: two users with passwords made up now, to print."""
    admin = NutUser(
        "admin",
        secrets.token_urlsafe(12),
        actions={"SET", "FSD", "LOGIN", "MASTER"},
        instcmds={"all"},
    )
    monitor = NutUser("monitor", secrets.token_urlsafe(12), actions={"LOGIN"})
    return {admin.name: admin, monitor.name: monitor}


# ---------------------------------------------------------------- what the lab serves


@dataclass(frozen=True)
class _Command:
    description: str
    run: Callable[[Any, str | None], str]  # (device, cmdparam) -> message; ValueError when refused


class _BadParam(ValueError):
    pass


def _delay(param: str | None) -> float:
    if param is None:
        return 0.0
    try:
        value = int(param)
    except ValueError:
        raise _BadParam(f"delay must be whole seconds, got {param!r}") from None
    if not 0 <= value <= 86400:
        raise _BadParam("delay must be between 0 and 86400 seconds")
    return float(value)


def _outlet(kind: CommandType, group: int, delayed: bool = False) -> Callable[[Any, str | None], str]:
    def run(device: Any, param: str | None) -> str:
        args: dict[str, Any] = {"group": str(group)}
        if delayed:
            args["delay_s"] = _delay(param)
        return device.run_command(kind, args)

    return run


def command_table(groups: int) -> dict[str, _Command]:
    """The instant commands of a UPS with ``groups`` outlet groups (group 0 is the main output)."""
    table = {
        "beeper.disable": _Command("Disable the UPS beeper", lambda d, p: d.set_beeper("disable")),
        "beeper.enable": _Command("Enable the UPS beeper", lambda d, p: d.set_beeper("enable")),
        "beeper.mute": _Command("Temporarily mute the UPS beeper", lambda d, p: d.set_beeper("mute")),
        "calibrate.start": _Command(
            "Start run time calibration", lambda d, p: d.run_command(CommandType.CALIBRATE_START)
        ),
        "load.off": _Command("Turn off the load immediately", _outlet(CommandType.OUTLET_GROUP_OFF, 0)),
        "load.off.delay": _Command(
            "Turn off the load with a delay (seconds)", _outlet(CommandType.OUTLET_GROUP_OFF, 0, True)
        ),
        "load.on": _Command("Turn on the load immediately", _outlet(CommandType.OUTLET_GROUP_ON, 0)),
        "load.on.delay": _Command(
            "Turn on the load with a delay (seconds)", _outlet(CommandType.OUTLET_GROUP_ON, 0, True)
        ),
        "test.battery.start": _Command(
            "Start a battery test", lambda d, p: d.run_command(CommandType.TEST_BATTERY_START)
        ),
    }
    for index in range(groups):
        prefix = f"outlet.group.{index}.load."
        table[prefix + "off"] = _Command(
            f"Turn off outlet group {index} immediately", _outlet(CommandType.OUTLET_GROUP_OFF, index)
        )
        table[prefix + "on"] = _Command(
            f"Turn on outlet group {index} immediately", _outlet(CommandType.OUTLET_GROUP_ON, index)
        )
        table[prefix + "cycle"] = _Command(
            f"Power cycle outlet group {index}", _outlet(CommandType.OUTLET_GROUP_CYCLE, index)
        )
    return dict(sorted(table.items()))


def _set_sensitivity(device: Any, value: str) -> str:
    return device.run_command(CommandType.INPUT_SENSITIVITY, {"sensitivity": value.lower()})


# writable variables: name -> (allowed values, maximum length, apply(device, value))
RW_VARS: dict[str, tuple[tuple[str, ...], int, Callable[[Any, str], str]]] = {
    "input.sensitivity": (SENSITIVITIES, max(len(s) for s in SENSITIVITIES), _set_sensitivity),
}


@dataclass
class _Ups:
    """One UPS as a client sees it right now."""

    name: str  # as the client spelled it
    serial: str
    variables: dict[str, str]
    groups: int

    @property
    def commands(self) -> dict[str, _Command]:
        return command_table(self.groups)


# ---------------------------------------------------------------- the server


class _Client:
    __slots__ = (
        "sock",
        "addr",
        "inbuf",
        "outbuf",
        "username",
        "password",
        "login_ups",
        "last_heard",
        "tracking",
        "discarding",
        "closing",
        "writing",
    )

    def __init__(self, sock: socket.socket, addr: str) -> None:
        self.sock = sock
        self.addr = addr
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.username: str | None = None
        self.password: str | None = None
        self.login_ups: str | None = None
        self.last_heard = time.monotonic()
        self.tracking = False
        self.discarding = False  # inside an overlong line, already answered
        self.closing = False
        self.writing = False


class NutServer:
    """Serve ``fleet`` over NUT's network protocol on ``host:port`` (0 = a free port) in a thread."""

    def __init__(
        self,
        fleet: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, NutUser] | None = None,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_clients: int = MAX_CLIENTS,
        call_timeout_s: float = 2.0,
    ) -> None:
        self.fleet = fleet
        self.users = users if users is not None else lab_users()
        self.idle_timeout_s = idle_timeout_s
        self.max_clients = max_clients
        self.call_timeout_s = call_timeout_s
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise NutConfigError(f"--nut-host {host!r}: {exc}") from None
        family, _, _, _, address = infos[0]
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind(address)
        except OSError as exc:
            self._listener.close()
            raise NutConfigError(
                f"port {port} on {host} is already in use; choose another with --nut-port"
                if port
                else f"cannot listen on {host}: {exc}"
            ) from None
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._clients: dict[socket.socket, _Client] = {}
        self._fsd: set[str] = set()  # serials with the forced-shutdown latch set
        self._tracking: OrderedDict[str, str] = OrderedDict()
        self._by_name = {serial.upper(): serial for serial in fleet.devices}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="nut-server", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> NutServer:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        else:
            self._close_all()

    def __enter__(self) -> NutServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, mask in self._selector.select(timeout=1.0):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        client = key.data
                        try:
                            if mask & selectors.EVENT_READ and not client.closing:
                                self._read(client)
                            if mask & selectors.EVENT_WRITE and client.sock in self._clients:
                                self._flush(client)
                        except Exception:  # one client never takes the server down
                            log.exception("NUT: client %s failed", client.addr)
                            self._drop(client)
                self._shed_idle()
        finally:
            self._close_all()

    def _close_all(self) -> None:
        for client in list(self._clients.values()):
            self._drop(client)
        for sock in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(Exception):
                self._selector.unregister(sock)
            sock.close()
        self._selector.close()

    def _accept(self) -> None:
        try:
            sock, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:  # out of file descriptors: keep serving the others
            log.warning("NUT: accept failed: %s", exc)
            return
        if len(self._clients) >= self.max_clients:
            log.warning("NUT: refusing %s, already %d clients", peer[0], len(self._clients))
            sock.close()
            return
        sock.setblocking(False)
        client = _Client(sock, str(peer[0]))
        self._clients[sock] = client
        self._selector.register(sock, selectors.EVENT_READ, client)
        log.debug("NUT: connect from %s", client.addr)

    def _shed_idle(self) -> None:
        now = time.monotonic()
        for client in list(self._clients.values()):
            if now - client.last_heard > self.idle_timeout_s:
                log.debug("NUT: dropping %s, idle", client.addr)
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        if self._clients.pop(client.sock, None) is None:
            return
        with contextlib.suppress(Exception):
            self._selector.unregister(client.sock)
        with contextlib.suppress(OSError):
            client.sock.close()

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client)
            return
        if not data:
            self._drop(client)
            return
        client.inbuf += data
        while not client.closing and client.sock in self._clients:
            newline = client.inbuf.find(b"\n")
            if newline < 0:
                if len(client.inbuf) > MAX_LINE_BYTES:
                    client.inbuf.clear()
                    if not client.discarding:
                        client.discarding = True
                        self._send(client, "ERR TOO-LONG")
                break
            line = bytes(client.inbuf[:newline])
            del client.inbuf[: newline + 1]
            if client.discarding:  # the end of a line already answered
                client.discarding = False
                continue
            if len(line) > MAX_LINE_BYTES:
                self._send(client, "ERR TOO-LONG")
                continue
            client.last_heard = time.monotonic()
            self._send(client, self._answer(client, line))

    def _send(self, client: _Client, text: str) -> None:
        if client.sock not in self._clients:
            return
        client.outbuf += (text if text.endswith("\n") else text + "\n").encode("ascii", "replace")
        if len(client.outbuf) > MAX_PENDING_OUTPUT_BYTES:
            log.info("NUT: dropping %s, it does not read its replies", client.addr)
            self._drop(client)
            return
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        while client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(client)
                return
            del client.outbuf[:sent]
        if client.outbuf and not client.writing:
            client.writing = True
            self._selector.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        elif not client.outbuf:
            if client.closing:
                self._drop(client)
                return
            if client.writing:
                client.writing = False
                self._selector.modify(client.sock, selectors.EVENT_READ, client)

    # -- one request

    def _answer(self, client: _Client, raw: bytes) -> str:
        try:
            if any((b < 0x20 and b not in (0x09, 0x0D)) or b > 0x7E for b in raw):
                raise _NutError("INVALID-ARGUMENT")
            try:
                words = split_words(raw.decode("ascii"))
            except ValueError:
                raise _NutError("INVALID-ARGUMENT") from None
            if len(words) > MAX_WORDS or any(len(w) > MAX_WORD_CHARS for w in words):
                raise _NutError("INVALID-ARGUMENT")
            if not words:
                raise _NutError("UNKNOWN-COMMAND")
            return self._dispatch(client, words[0].upper(), words[1:])
        except _NutError as exc:
            return f"ERR {exc.word}"
        except TimeoutError:
            return "ERR DRIVER-NOT-CONNECTED"
        except Exception:
            log.exception("NUT: request from %s failed", client.addr)
            return "ERR DRIVER-NOT-CONNECTED"

    def _dispatch(self, client: _Client, command: str, args: list[str]) -> str:
        handlers: dict[str, Callable[[_Client, list[str]], str]] = {
            "VER": self._ver,
            "NETVER": self._netver,
            "PROTVER": self._netver,
            "HELP": self._help,
            "STARTTLS": self._starttls,
            "GET": self._get,
            "LIST": self._list,
            "USERNAME": self._username,
            "PASSWORD": self._password,
            "LOGIN": self._login,
            "LOGOUT": self._logout,
            "PRIMARY": self._primary,
            "MASTER": self._master,
            "FSD": self._fsd_cmd,
            "SET": self._set,
            "INSTCMD": self._instcmd,
        }
        handler = handlers.get(command)
        if handler is None:
            raise _NutError("UNKNOWN-COMMAND")
        if command in ("LOGIN", "PRIMARY", "MASTER", "FSD", "SET", "INSTCMD"):
            if client.username is None:
                raise _NutError("USERNAME-REQUIRED")
            if client.password is None:
                raise _NutError("PASSWORD-REQUIRED")
        return handler(client, args)

    # -- access

    def _user(self, client: _Client) -> NutUser | None:
        user = self.users.get(client.username or "")
        if user is None or client.password is None:
            return None
        if not hmac.compare_digest(user.password.encode(), client.password.encode()):
            return None
        return user

    def _may(self, client: _Client, *actions: str) -> bool:
        user = self._user(client)
        return user is not None and any(action in user.actions for action in actions)

    def _may_run(self, client: _Client, command: str) -> bool:
        user = self._user(client)
        return user is not None and ("all" in user.instcmds or command.lower() in user.instcmds)

    # -- UPS lookup

    def _serial(self, name: str) -> str:
        serial = self._by_name.get(name.upper())
        if serial is None:
            raise _NutError("UNKNOWN-UPS")
        return serial

    def _ups(self, name: str) -> _Ups:
        """The UPS with fresh data, or ERR UNKNOWN-UPS / DATA-STALE / DRIVER-NOT-CONNECTED."""
        serial = self._serial(name)
        clock = self.fleet.clock
        try:
            telemetry, sim_s = self.fleet.call(
                serial, lambda d: (dict(d.last_telemetry), d.sim_time_s), self.call_timeout_s
            )
        except TimeoutError:
            raise _NutError("DRIVER-NOT-CONNECTED") from None
        max_age_s = STALE_AFTER_INTERVALS * self.fleet.interval_s * clock.speed + _step_slack(
            self.fleet, serial
        )
        if not telemetry or clock.now() - sim_s > max_age_s:
            raise _NutError("DATA-STALE")
        variables = {name: _text(value) for name, value in telemetry.items() if value is not None}
        model = variables.get("device.model", "")
        for key, value in (
            ("device.mfr", MANUFACTURER),
            ("device.type", "ups"),
            ("ups.mfr", MANUFACTURER),
            ("ups.model", model),
            ("ups.serial", variables.get("device.serial", serial)),
        ):
            variables.setdefault(key, value)
        if serial in self._fsd:
            variables["ups.status"] = "FSD " + variables.get("ups.status", "")
        groups = sum(1 for key in variables if key.startswith("outlet.group.") and key.endswith(".name"))
        return _Ups(name, serial, dict(sorted(variables.items())), groups)

    def _call(self, serial: str, fn: Callable[[Any, str | None], str], param: Any) -> str:
        now = self.fleet.clock.now()

        def run(device: Any) -> str:
            device.advance_to(now)
            return fn(device, param)

        return self.fleet.call(serial, run, self.call_timeout_s)

    # -- commands without authentication

    def _ver(self, client: _Client, args: list[str]) -> str:
        if args:
            raise _NutError("INVALID-ARGUMENT")
        return f"Network UPS Tools upsd {NUT_VERSION} - upsconnect device lab"

    def _netver(self, client: _Client, args: list[str]) -> str:
        if args:
            raise _NutError("INVALID-ARGUMENT")
        return PROTOCOL_VERSION

    def _help(self, client: _Client, args: list[str]) -> str:
        if args:
            raise _NutError("INVALID-ARGUMENT")
        return HELP_TEXT

    def _starttls(self, client: _Client, args: list[str]) -> str:
        raise _NutError("FEATURE-NOT-CONFIGURED")

    def _username(self, client: _Client, args: list[str]) -> str:
        if len(args) != 1:
            raise _NutError("INVALID-ARGUMENT")
        if client.username is not None:
            raise _NutError("ALREADY-SET-USERNAME")
        client.username = args[0]
        return "OK"

    def _password(self, client: _Client, args: list[str]) -> str:
        if len(args) != 1:
            raise _NutError("INVALID-ARGUMENT")
        if client.password is not None:
            raise _NutError("ALREADY-SET-PASSWORD")
        client.password = args[0]
        return "OK"

    def _logout(self, client: _Client, args: list[str]) -> str:
        if args:
            raise _NutError("INVALID-ARGUMENT")
        client.closing = True  # closed once the goodbye is sent
        return "OK Goodbye"

    def _get(self, client: _Client, args: list[str]) -> str:
        if not args:
            raise _NutError("INVALID-ARGUMENT")
        sub = args[0].upper()
        if sub == "TRACKING":
            if len(args) < 2:
                return "ON" if client.tracking else "OFF"
            if not client.tracking:
                raise _NutError("FEATURE-NOT-CONFIGURED")
            return self._tracking.get(args[1], "ERR UNKNOWN")
        if len(args) < 2:
            raise _NutError("INVALID-ARGUMENT")
        name = args[1]
        if sub == "NUMLOGINS":
            serial = self._ups(name).serial
            return f"NUMLOGINS {name} {self._numlogins(serial)}"
        if sub == "UPSDESC":
            return f"UPSDESC {name} {quote(self._description(self._serial(name)))}"
        if len(args) < 3:
            raise _NutError("INVALID-ARGUMENT")
        var = args[2]
        if sub == "VAR":
            if var.lower().startswith("server."):
                return self._server_var(name, var)
            ups = self._ups(name)
            if var not in ups.variables:
                raise _NutError("VAR-NOT-SUPPORTED")
            return f"VAR {name} {var} {quote(ups.variables[var])}"
        if sub == "TYPE":
            ups = self._ups(name)
            if var not in ups.variables:
                raise _NutError("VAR-NOT-SUPPORTED")
            return f"TYPE {name} {var} {_type(var, ups.variables[var])}"
        if sub == "DESC":
            self._ups(name)
            return f"DESC {name} {var} {quote(_var_description(var))}"
        if sub == "CMDDESC":
            ups = self._ups(name)
            command = ups.commands.get(var.lower())
            text = command.description if command else "Description unavailable"
            return f"CMDDESC {name} {var} {quote(text)}"
        raise _NutError("INVALID-ARGUMENT")

    def _server_var(self, name: str, var: str) -> str:
        if var.lower() == "server.info":
            return f"VAR {name} server.info {quote(f'Network UPS Tools upsd {NUT_VERSION} - upsconnect lab')}"
        if var.lower() == "server.version":
            return f"VAR {name} server.version {quote(NUT_VERSION)}"
        raise _NutError("VAR-NOT-SUPPORTED")

    def _description(self, serial: str) -> str:
        model = self.fleet.devices[serial].spec.model  # immutable after start: no shard call needed
        return f"Simulated {model}"

    def _numlogins(self, serial: str) -> int:
        return sum(1 for c in self._clients.values() if c.login_ups == serial)

    def _list(self, client: _Client, args: list[str]) -> str:
        if not args:
            raise _NutError("INVALID-ARGUMENT")
        sub = args[0].upper()
        if sub == "UPS":
            lines = ["BEGIN LIST UPS"]
            lines += [f"UPS {serial} {quote(self._description(serial))}" for serial in self.fleet.devices]
            return "\n".join([*lines, "END LIST UPS"])
        if len(args) < 2:
            raise _NutError("INVALID-ARGUMENT")
        name = args[1]
        if sub == "CLIENT":
            serial = self._serial(name)
            rows = [f"CLIENT {c.login_ups} {c.addr}" for c in self._clients.values() if c.login_ups == serial]
            return "\n".join([f"BEGIN LIST CLIENT {name}", *rows, f"END LIST CLIENT {name}"])
        if sub in ("VAR", "RW", "CMD"):
            ups = self._ups(name)
            if sub == "VAR":
                rows = [f"VAR {name} {var} {quote(value)}" for var, value in ups.variables.items()]
            elif sub == "RW":
                rows = [
                    f"RW {name} {var} {quote(value)}"
                    for var, value in ups.variables.items()
                    if var in RW_VARS
                ]
            else:
                rows = [f"CMD {name} {command}" for command in ups.commands]
            return "\n".join([f"BEGIN LIST {sub} {name}", *rows, f"END LIST {sub} {name}"])
        if len(args) < 3:
            raise _NutError("INVALID-ARGUMENT")
        var = args[2]
        if sub in ("ENUM", "RANGE"):
            ups = self._ups(name)
            if var not in ups.variables:
                raise _NutError("VAR-NOT-SUPPORTED")
            rows = []
            if sub == "ENUM" and var in RW_VARS:
                rows = [f"ENUM {name} {var} {quote(value)}" for value in RW_VARS[var][0]]
            return "\n".join([f"BEGIN LIST {sub} {name} {var}", *rows, f"END LIST {sub} {name} {var}"])
        raise _NutError("INVALID-ARGUMENT")

    # -- commands that need USERNAME and PASSWORD first

    def _login(self, client: _Client, args: list[str]) -> str:
        if len(args) != 1:
            raise _NutError("INVALID-ARGUMENT")
        if client.login_ups is not None:
            raise _NutError("ALREADY-LOGGED-IN")
        serial = self._serial(args[0])
        if not self._may(client, "LOGIN"):
            raise _NutError("ACCESS-DENIED")
        client.login_ups = serial
        log.info("NUT: %s@%s logged into UPS %s", client.username, client.addr, serial)
        return "OK"

    def _primary_check(self, client: _Client, args: list[str]) -> None:
        if len(args) != 1:
            raise _NutError("INVALID-ARGUMENT")
        self._serial(args[0])
        if not self._may(client, "PRIMARY", "MASTER"):
            raise _NutError("ACCESS-DENIED")

    def _primary(self, client: _Client, args: list[str]) -> str:
        self._primary_check(client, args)
        return "OK PRIMARY-GRANTED"

    def _master(self, client: _Client, args: list[str]) -> str:
        self._primary_check(client, args)
        return "OK MASTER-GRANTED"

    def _fsd_cmd(self, client: _Client, args: list[str]) -> str:
        if len(args) != 1:
            raise _NutError("INVALID-ARGUMENT")
        serial = self._serial(args[0])
        if not self._may(client, "FSD"):
            raise _NutError("ACCESS-DENIED")
        log.warning("NUT: %s@%s set forced shutdown (FSD) on UPS %s", client.username, client.addr, serial)
        self._fsd.add(serial)
        return "OK FSD-SET"

    def _track(self, client: _Client, status: str) -> str:
        if not client.tracking:
            return "OK"
        tracking_id = str(uuid.uuid4())
        self._tracking[tracking_id] = status
        while len(self._tracking) > TRACKING_KEEP:
            self._tracking.popitem(last=False)
        return f"OK TRACKING {tracking_id}"

    def _set(self, client: _Client, args: list[str]) -> str:
        if len(args) < 2:
            raise _NutError("INVALID-ARGUMENT")
        sub = args[0].upper()
        if sub == "TRACKING":
            if args[1].upper() not in ("ON", "OFF"):
                raise _NutError("INVALID-ARGUMENT")
            client.tracking = args[1].upper() == "ON"
            return "OK"
        if sub != "VAR":
            raise _NutError("INVALID-ARGUMENT")
        if len(args) < 4:
            raise _NutError("INVALID-ARGUMENT")
        name, var, value = args[1], args[2], args[3]
        ups = self._ups(name)
        if not self._may(client, "SET"):
            raise _NutError("ACCESS-DENIED")
        if var not in ups.variables:
            raise _NutError("VAR-NOT-SUPPORTED")
        if var not in RW_VARS:
            raise _NutError("READONLY")
        allowed, max_len, apply = RW_VARS[var]
        if len(value) > max_len:
            raise _NutError("TOO-LONG")
        matches = [a for a in allowed if a.lower() == value.lower()]
        if not matches:
            raise _NutError("INVALID-VALUE")
        try:
            message = self._call(ups.serial, lambda d, v: apply(d, v), matches[0])
            status = "SUCCESS"
        except ValueError as exc:
            message, status = f"refused: {exc}", "ERR FAILED"
        log.info(
            "NUT: %s@%s set %s=%s on %s: %s", client.username, client.addr, var, value, ups.serial, message
        )
        return self._track(client, status)

    def _instcmd(self, client: _Client, args: list[str]) -> str:
        if len(args) < 2:
            raise _NutError("INVALID-ARGUMENT")
        name, command_name = args[0], args[1]
        param = args[2] if len(args) == 3 else None
        ups = self._ups(name)
        command = ups.commands.get(command_name.lower())
        if command is None:
            raise _NutError("CMD-NOT-SUPPORTED")
        if not self._may_run(client, command_name):
            raise _NutError("ACCESS-DENIED")
        # as with upsd, OK means the UPS got the command; a refusal shows in its state (and in TRACKING)
        try:
            message = self._call(ups.serial, command.run, param)
            status = "SUCCESS"
        except _BadParam as exc:
            message, status = f"invalid argument: {exc}", "ERR INVALID-ARGUMENT"
        except ValueError as exc:
            message, status = f"refused: {exc}", "ERR FAILED"
        log.info(
            "NUT: %s@%s ran %s on %s: %s",
            client.username,
            client.addr,
            command_name.lower(),
            ups.serial,
            message,
        )
        return self._track(client, status)


def _step_slack(fleet: Any, serial: str) -> float:
    """A device's model lags the clock by up to one grid step."""
    device = fleet.devices.get(serial)
    return float(getattr(device, "step_s", 0.0))


def _type(var: str, value: str) -> str:
    if var in RW_VARS:
        return f"RW ENUM STRING:{RW_VARS[var][1]}"
    try:
        float(value)
    except ValueError:
        return f"STRING:{max(len(value), 64)}"
    return "NUMBER"


def _var_description(var: str) -> str:
    if var in VAR_DESCRIPTIONS:
        return VAR_DESCRIPTIONS[var]
    parts = var.split(".")
    if len(parts) >= 4 and parts[:2] == ["outlet", "group"] and parts[2].isdigit():
        return GROUP_VAR_DESCRIPTIONS.get(".".join(parts[3:]), "Description unavailable")
    return "Description unavailable"
