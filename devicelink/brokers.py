"""Three ways to get an MQTT broker behind one interface: embedded amqtt, a private Mosquitto, or a URL.

Every broker object has ``start() -> url``, ``stop()``, ``url`` and ``endpoint(username, password)``.
Anonymous access is always off: devices log in as their serial with the password derived from the
factory key; the portal's own clients use the users passed as ``users``.

Device identity is bound at the broker: a device may connect only with its own serial as client id, so
one device's credentials cannot take over another device's session. On the private Mosquitto, devices
use ``port`` (``use_username_as_clientid true``) and the portal's own clients use ``service_port``,
where arbitrary client ids are allowed (several workers, persistent sessions); both listeners share the
password file and ACLs. The embedded broker has one port and refuses, in its auth plugin, a device login
whose client id differs from its username. ``service_url`` / ``service_endpoint()`` are where the
portal's own users connect on every kind of broker.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import errno
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from devicelink.contract import TOPIC_ROOT, is_valid_serial
from devicelink.provisioning import device_password

LOOPBACK = "127.0.0.1"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerError(Exception):
    """A broker could not be started or reached; the message is meant for a person."""


@dataclass(frozen=True)
class MqttEndpoint:
    """Where and how a client connects."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The URL without credentials, safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def with_credentials(self, username: str | None, password: str | None) -> MqttEndpoint:
        """The same broker, another login."""
        return MqttEndpoint(self.host, self.port, self.tls, username, password)


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt://user:pass@host:port`` or ``mqtts://...`` to an endpoint; BrokerError when malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerError(f"invalid broker URL {url!r}: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise BrokerError(f"invalid broker URL {url!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise BrokerError(f"invalid broker URL {url!r}: no host")
    return MqttEndpoint(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ensure_port_free(host: str, port: int, option: str = "--mqtt-port") -> None:
    """Raise BrokerError with a clear message when ``host:port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = "already in use" if exc.errno == errno.EADDRINUSE else "not allowed for this user"
                raise BrokerError(
                    f"port {port} on {host} is {reason}; choose another with {option}"
                ) from None
            raise BrokerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def wait_for_port(host: str, port: int, timeout_s: float, alive: Any = None) -> bool:
    """True once something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.02)
    return False


def device_topic_allowed(username: str, topic: str) -> bool:
    """True when a device may use ``topic`` (a name or filter): only its own ``ups/<serial>/`` subtree."""
    prefix = f"{TOPIC_ROOT}/{username}/"
    return topic.startswith(prefix) or topic == f"{TOPIC_ROOT}/{username}"


def device_client_id_allowed(username: str, client_id: str | None) -> bool:
    """True when a device login may use ``client_id``: only its own serial."""
    return client_id == username


# ---------------------------------------------------------------- embedded (amqtt)

try:  # amqtt is a hard dependency, but keep the module importable for URL-only users
    from amqtt.contexts import Action
    from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
except ImportError:  # pragma: no cover
    BaseAuthPlugin = BaseTopicPlugin = object  # type: ignore[assignment,misc]
    Action = None  # type: ignore[assignment]


class LabAuthPlugin(BaseAuthPlugin):  # type: ignore[misc,valid-type]
    """amqtt authentication: named users from memory, devices by the password derived from the factory key."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)
        factory_key_hex: str = ""

    async def authenticate(self, *, session: Any) -> bool | None:
        username, password = session.username, session.password
        if not username or password is None:
            return False
        expected = self.config.users.get(username)
        if expected is None and self.config.factory_key_hex and is_valid_serial(username):
            expected = device_password(bytes.fromhex(self.config.factory_key_hex), username)
        if expected is None:
            return False
        if not hmac.compare_digest(expected.encode(), str(password).encode()):
            return False
        if username not in self.config.users and not device_client_id_allowed(username, session.client_id):
            logging.getLogger(__name__).warning(
                "refused a login as device %s with client id %r (a device connects only as itself)",
                username, session.client_id,
            )
            return False
        return True


class DeviceTopicPlugin(BaseTopicPlugin):  # type: ignore[misc,valid-type]
    """amqtt topic check: portal users everywhere, a device only under ``ups/<its username>/``."""

    @dataclass
    class Config:
        admins: list[str] = field(default_factory=list)

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        username = getattr(session, "username", None)
        if not username or not topic:
            return False
        if username in self.config.admins:
            return True
        return device_topic_allowed(username, topic)


class SubscriptionTable(dict):
    """amqtt's table of subscriptions (filter -> sessions), walked over a copy of its keys.

    amqtt 0.12 walks the table while delivering a message and awaits inside the walk (the topic
    check per subscriber); a client subscribing or leaving meanwhile changed the table, the walk
    raised ``dictionary changed size during iteration`` and the message was lost for the rest.
    """

    def __iter__(self):  # type: ignore[override]
        return iter(list(super().keys()))

    def keys(self):  # type: ignore[override]
        return list(super().keys())

    def items(self):  # type: ignore[override]
        return list(super().items())


def _close_listeners(broker: Any) -> None:
    for server in getattr(broker, "_servers", {}).values():
        if getattr(server, "instance", None) is not None:
            server.instance.close()


def _drop_client_connections(broker: Any) -> None:
    """Abort the TCP connection of every client amqtt holds (its sessions' stream writers)."""
    for _session, handler in list(getattr(broker, "_sessions", {}).values()):
        stream = getattr(getattr(handler, "writer", None), "_writer", None)
        transport = getattr(stream, "transport", None)
        if transport is not None:
            transport.abort()


class EmbeddedBroker:
    """amqtt in its own asyncio loop on a background thread, bound to 127.0.0.1 only.

    ``users`` maps the portal's own usernames to passwords (full access); devices authenticate as
    their serial with ``device_password(factory_key, serial)`` and are confined to their subtree.
    """

    kind = "embedded"

    def __init__(
        self,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        factory_key: bytes | None = None,
        host: str = LOOPBACK,
        max_connections: int = 20_000,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.users = dict(users or {})
        self.factory_key = factory_key
        self.max_connections = max_connections
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.amqtt: Any = None  # the running amqtt Broker, for inspection

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def service_port(self) -> int:
        """The portal's own clients use the same port here; the auth plugin binds device client ids."""
        return self.port

    @property
    def service_url(self) -> str:
        return self.url

    def endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return MqttEndpoint(self.host, self.port, False, username, password)

    def service_endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return self.endpoint(username, password)

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {
                "default": {
                    "type": "tcp",
                    "bind": f"{self.host}:{self.port}",
                    "max_connections": self.max_connections,
                }
            },
            "plugins": {
                f"{__name__}.LabAuthPlugin": {
                    "users": self.users,
                    "factory_key_hex": self.factory_key.hex() if self.factory_key else "",
                },
                f"{__name__}.DeviceTopicPlugin": {"admins": sorted(self.users)},
            },
        }

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            self._stop = asyncio.Event()
            broker = Broker(self._config())
            broker._subscriptions = SubscriptionTable()  # see SubscriptionTable
            self.amqtt = broker
            try:
                await broker.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
            # amqtt's shutdown can hang or fail part-way under traffic (a broadcast racing a disconnect)
            # and then leaves its clients' connections open: they would notice only by their keepalive,
            # a minute or more later. So first stop listening (frees the port for a restart on the same
            # one) and drop every connection, as a broker that stops does, then let amqtt tidy up.
            _close_listeners(broker)
            _drop_client_connections(broker)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.shutdown(), 5)

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # pragma: no cover - surfaced through start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start listening; returns the URL."""
        ensure_port_free(self.host, self.port)
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"amqtt-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise BrokerError(f"the embedded broker did not start within {timeout_s:.0f} s")
        if self._error is not None:
            raise BrokerError(
                f"the embedded broker failed to start on {self.host}:{self.port}: {self._error}"
            )
        return self.url

    def stop(self) -> None:
        """Disconnect everyone and stop the loop thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- private Mosquitto

PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes


def mosquitto_password_hash(password: str, *, salt: bytes | None = None) -> str:
    """A Mosquitto 2.0 password-file hash (``$7$``: PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def mosquitto_binary() -> str | None:
    """Path of the mosquitto binary, or None."""
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )


_running_children: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _stop_children() -> None:
    for proc in list(_running_children):
        with contextlib.suppress(Exception):
            proc.terminate()
            proc.wait(5)


class PrivateMosquitto:
    """A Mosquitto child process with a generated config, password file and ACLs in ``config_dir``.

    Devices (username = serial) may only use ``ups/<serial>/#``; ``users`` (the portal's own clients)
    may use everything. Persistence is on and saved every ``autosave_interval_s``; queue limits are
    raised so bursts for a slow or offline persistent session are kept, not dropped.
    """

    kind = "mosquitto"

    def __init__(
        self,
        config_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        service_port: int | None = None,
        users: Mapping[str, str] | None = None,
        devices: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        binary: str | None = None,
        host: str = LOOPBACK,
        autosave_interval_s: int = 2,
        max_queued_messages: int = 100_000,
        max_inflight_messages: int = 100,
        persistence: bool = True,
    ) -> None:
        self.config_dir = Path(config_dir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.service_port = service_port if service_port is not None else free_port(host)
        if self.service_port == self.port:
            raise BrokerError(f"the device port and the service port must differ (both {self.port})")
        self.users = dict(users or {})
        self.devices = dict(devices.items() if isinstance(devices, Mapping) else devices)
        self.binary = binary or mosquitto_binary()
        self.autosave_interval_s = autosave_interval_s
        self.max_queued_messages = max_queued_messages
        self.max_inflight_messages = max_inflight_messages
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_factory(
        cls, config_dir: str | os.PathLike[str], serials: Iterable[str], factory_key: bytes, **kwargs: Any
    ) -> PrivateMosquitto:
        """A broker whose device passwords are derived from the factory key."""
        devices = {serial: device_password(factory_key, serial) for serial in serials}
        return cls(config_dir, devices=devices, **kwargs)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def service_url(self) -> str:
        """Where the portal's own users connect (any client id)."""
        return f"mqtt://{self.host}:{self.service_port}"

    def service_endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return MqttEndpoint(self.host, self.service_port, False, username, password)

    @property
    def conf_path(self) -> Path:
        return self.config_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.config_dir / "mosquitto.log"

    @property
    def pid_path(self) -> Path:
        return self.config_dir / "mosquitto.pid"

    @staticmethod
    def add_to_running(config_dir: str | os.PathLike[str], devices: Mapping[str, str]) -> None:
        """Give device logins to a private Mosquitto started by another process of the lab (``make run``).

        Appends to its password file and sends it SIGHUP, as ``add_devices`` does for the owner. The
        owner rewrites the file from its own list when it reloads; the lab's owner never reloads.
        """
        folder = Path(config_dir)
        try:
            pid = int((folder / "mosquitto.pid").read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            raise BrokerError(f"no running Mosquitto of the lab in {folder}") from None
        if b"mosquitto" not in command:
            raise BrokerError(f"no running Mosquitto of the lab in {folder} (its pid file is stale)")
        lines = "".join(f"{serial}:{mosquitto_password_hash(pw)}\n" for serial, pw in devices.items())
        with open(folder / "passwords", "a") as handle:
            handle.write(lines)
        os.kill(pid, signal.SIGHUP)

    def endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return MqttEndpoint(self.host, self.port, False, username, password)

    def write_config(self) -> Path:
        """Write mosquitto.conf, the password files and ACLs into the config dir; returns the conf path.

        Two listeners with their own logins (``per_listener_settings true``): ``port`` for devices
        (``passwords`` + ``acl``, client id = login) and ``service_port`` for the portal's own users
        (``service-passwords`` + ``service-acl``, any client id). A device login is unknown on the
        service listener, so it cannot pick another device's serial as client id there either.
        """
        self.config_dir.mkdir(parents=True, exist_ok=True)
        passwd, acl = self.config_dir / "passwords", self.config_dir / "acl"
        service_passwd, service_acl = self.config_dir / "service-passwords", self.config_dir / "service-acl"
        lines = [f"{user}:{mosquitto_password_hash(pw)}" for user, pw in self.devices.items()]
        _write_private(passwd, "".join(f"{line}\n" for line in lines))
        lines = [f"{user}:{mosquitto_password_hash(pw)}" for user, pw in self.users.items()]
        _write_private(service_passwd, "".join(f"{line}\n" for line in lines))
        acl_lines = ["# every device: its own subtree only", f"pattern readwrite {TOPIC_ROOT}/%u/#", ""]
        _write_private(acl, "\n".join(acl_lines))
        acl_lines = ["# the portal's own clients"]
        for user in sorted(self.users):
            acl_lines += [f"user {user}", "topic readwrite #", ""]
        _write_private(service_acl, "\n".join(acl_lines))
        conf = [
            "# generated by upsconnect; rewritten on every start",
            "per_listener_settings true",
            # as root, mosquitto would switch to user "mosquitto", who cannot read these 0600 files
            f"user {getpass.getuser()}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.config_dir}/",
            f"autosave_interval {self.autosave_interval_s}",
            f"max_queued_messages {self.max_queued_messages}",
            "max_queued_bytes 0",
            f"max_inflight_messages {self.max_inflight_messages}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages false",
            "",
            "# devices: the client id is the login, so one device's credentials cannot take over another's session",
            f"listener {self.port} {self.host}",
            "use_username_as_clientid true",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {acl}",
            "max_connections -1",
            "",
            "# the portal's own services (ingest, web, lab console): their own logins, any client id",
            f"listener {self.service_port} {self.host}",
            "allow_anonymous false",
            f"password_file {service_passwd}",
            f"acl_file {service_acl}",
            "max_connections -1",
            "",
        ]
        self.conf_path.write_text("\n".join(conf))
        return self.conf_path

    def start(self, timeout_s: float = 10.0) -> str:
        """Write the config, start the child process, wait until it listens; returns the URL."""
        if self.binary is None:
            raise BrokerError("mosquitto is not installed; use the embedded broker or a broker URL")
        if self.proc is not None and self.proc.poll() is None:
            return self.url
        ensure_port_free(self.host, self.port)
        ensure_port_free(self.host, self.service_port, "another service_port")
        self.write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the lab, which then stops the broker cleanly
        )
        _running_children.add(self.proc)
        self.pid_path.write_text(str(self.proc.pid))  # how another lab process reaches it (add_to_running)
        alive = lambda: self.proc.poll() is None  # noqa: E731
        if not (
            wait_for_port(self.host, self.port, timeout_s, alive=alive)
            and wait_for_port(self.host, self.service_port, timeout_s, alive=alive)
        ):
            detail = self._failure_detail()
            self.stop()
            raise BrokerError(f"mosquitto did not start on {self.host}:{self.port}: {detail}")
        return self.url

    def _failure_detail(self) -> str:
        text = ""
        if self.proc is not None and self.proc.poll() is not None and self.proc.stderr is not None:
            text = self.proc.stderr.read().decode(errors="replace")
        if self.log_path.exists():
            text += self.log_path.read_text(errors="replace")[-2000:]
        return text.strip().splitlines()[-1] if text.strip() else "no output"

    def reload(self) -> None:
        """Rewrite passwords and ACLs and make the running broker read them (SIGHUP)."""
        self.write_config()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def add_devices(self, devices: Mapping[str, str]) -> None:
        """Provision more device logins on the running broker."""
        self.devices.update(devices)
        self.reload()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop cleanly (SIGTERM saves the persistence file); SIGKILL if it does not exit."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
        _running_children.discard(proc)

    def kill(self) -> None:
        """Crash the broker (SIGKILL): whatever was not autosaved is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.stop()

    def restart(self, timeout_s: float = 10.0) -> str:
        """Stop cleanly and start again on the same port with the same persistence."""
        self.stop()
        return self.start(timeout_s)

    def __enter__(self) -> PrivateMosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# ---------------------------------------------------------------- any broker by URL


class ExternalBroker:
    """A broker somebody else runs; start and stop do nothing."""

    kind = "url"

    def __init__(self, url: str) -> None:
        self._endpoint = parse_mqtt_url(url)

    @property
    def url(self) -> str:
        return self._endpoint.url

    @property
    def host(self) -> str:
        return self._endpoint.host

    @property
    def port(self) -> int:
        return self._endpoint.port

    @property
    def service_port(self) -> int:
        return self._endpoint.port

    @property
    def service_url(self) -> str:
        return self.url

    def service_endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return self.endpoint(username, password)

    def endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        """The URL's own credentials unless others are given."""
        if username is None:
            return self._endpoint
        return self._endpoint.with_credentials(username, password)

    def start(self, timeout_s: float = 5.0) -> str:
        return self.url

    def stop(self) -> None:
        return None


def broker_from_url(url: str) -> ExternalBroker:
    """An external broker from ``mqtt://user:pass@host:port`` or ``mqtts://...``."""
    return ExternalBroker(url)
