"""A small blocking client for the NUT network protocol (what ``upsd`` speaks on TCP 3493).

Only what the bridge needs: LIST UPS / VAR / CMD / ENUM, USERNAME / PASSWORD, INSTCMD and SET VAR.
Our own instead of ``aionut``: the bridge's MQTT side (paho) is threaded, a blocking socket with a
timeout fits that loop, and it keeps the agent free of another dependency.
"""

from __future__ import annotations

import contextlib
import shlex
import socket

DEFAULT_PORT = 3493
MAX_LINE_BYTES = 4096  # NUT's LARGEBUF


class NutError(Exception):
    """upsd answered ``ERR <word>`` (``word`` holds it), or the connection failed (``word`` is empty)."""

    def __init__(self, message: str, word: str = "") -> None:
        super().__init__(message)
        self.word = word


def parse_server(text: str) -> tuple[str, int]:
    """``host`` or ``host:port`` to a pair; ValueError with a readable message otherwise."""
    host, sep, port_text = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    if not sep:
        host, port_text = text.strip(), str(DEFAULT_PORT)
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--upsd must be HOST or HOST:PORT with a port from 1 to 65535, got {text!r}")
    return host, int(port_text)


def _quote(value: str) -> str:
    if any(ch in value for ch in '\r\n'):
        raise ValueError("a NUT argument cannot hold a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class NutClient:
    """One connection to one upsd; every method raises NutError on an ERR reply or a broken link."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout_s: float = 5.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> NutClient:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise NutError(f"cannot reach upsd at {self.address}: {exc.strerror or exc}") from None
        self._buffer = b""
        return self

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"LOGOUT\n")
            self._sock.close()
            self._sock = None

    def __enter__(self) -> NutClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, line: str) -> None:
        if self._sock is None:
            self.connect()
        try:
            self._sock.sendall(line.encode("ascii") + b"\n")  # type: ignore[union-attr]
        except OSError as exc:
            self._drop()
            raise NutError(f"lost the connection to upsd at {self.address}: {exc}") from None

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def _line(self) -> str:
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536) if self._sock is not None else b""
            except OSError as exc:
                self._drop()
                raise NutError(f"lost the connection to upsd at {self.address}: {exc}") from None
            if not chunk:
                self._drop()
                raise NutError(f"upsd at {self.address} closed the connection")
            self._buffer += chunk
            if len(self._buffer) > 16 * MAX_LINE_BYTES and b"\n" not in self._buffer:
                self._drop()
                raise NutError(f"upsd at {self.address} sent a line longer than NUT allows")
        raw, self._buffer = self._buffer.split(b"\n", 1)
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if line.startswith("ERR "):
            word = line[4:].split()[0] if line[4:].split() else "UNKNOWN"
            raise NutError(f"upsd at {self.address} answered ERR {word}", word)
        return line

    def _words(self, line: str) -> list[str]:
        try:
            return shlex.split(line, posix=True)
        except ValueError:
            raise NutError(f"upsd at {self.address} sent an unreadable line {line[:80]!r}") from None

    def _list(self, query: str) -> list[list[str]]:
        """Send ``LIST <query>`` and return the words of each item line (without the leading words)."""
        self._send(f"LIST {query}")
        first = self._line()
        if not first.startswith("BEGIN LIST "):
            raise NutError(f"upsd at {self.address} answered {first[:80]!r} to LIST {query}")
        kind_words = len(self._words(query))
        rows = []
        while True:
            line = self._line()
            if line.startswith("END LIST"):
                return rows
            rows.append(self._words(line)[kind_words:])

    def list_ups(self) -> dict[str, str]:
        """UPS name -> description."""
        return {row[0]: (row[1] if len(row) > 1 else "") for row in self._list("UPS") if row}

    def list_vars(self, ups: str) -> dict[str, str]:
        """Every variable of one UPS, as upsd's strings."""
        return {row[0]: (row[1] if len(row) > 1 else "") for row in self._list(f"VAR {ups}") if row}

    def list_commands(self, ups: str) -> list[str]:
        """The instant commands the UPS's driver offers."""
        return [row[0] for row in self._list(f"CMD {ups}") if row]

    def list_rw(self, ups: str) -> list[str]:
        """The variables a client may change with SET VAR."""
        return [row[0] for row in self._list(f"RW {ups}") if row]

    def list_enum(self, ups: str, variable: str) -> list[str]:
        """The values a writable enumerated variable accepts (empty when it has no list)."""
        try:
            return [row[0] for row in self._list(f"ENUM {ups} {variable}") if row]
        except NutError as exc:
            if exc.word:
                return []
            raise

    def login(self, username: str, password: str) -> None:
        """USERNAME and PASSWORD, needed before INSTCMD and SET VAR."""
        for line in (f"USERNAME {_quote(username)}", f"PASSWORD {_quote(password)}"):
            self._send(line)
            self._line()

    def instcmd(self, ups: str, command: str, value: str | None = None) -> None:
        """Run an instant command; returns when upsd answered OK (the driver received it)."""
        self._send(f"INSTCMD {ups} {command}" + (f" {_quote(value)}" if value is not None else ""))
        self._line()

    def set_var(self, ups: str, variable: str, value: str) -> None:
        """SET VAR; returns when upsd answered OK."""
        self._send(f"SET VAR {ups} {variable} {_quote(value)}")
        self._line()
