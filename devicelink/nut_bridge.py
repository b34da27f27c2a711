"""The NUT bridge: real UPSes behind one or more ``upsd`` servers, published over the device link.

``python -m devicelink.nut_bridge`` (or ``upsconnect-nut-bridge``) runs next to the upsd servers. On
its first start it exchanges a one-time enrolment token from the portal's Bridges page for its own
secret; then, for every UPS it finds, it asks the portal for that UPS's MQTT login and publishes it
like a SmartConnect device (hello, state, telemetry, events from status changes), relaying the
portal's commands back to upsd as INSTCMD / SET VAR. See docs/nut.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from devicelink import contract, nut_mapping
from devicelink.brokers import BrokerError, MqttEndpoint, parse_mqtt_url
from devicelink.contract import Channel, CommandType, ResultStatus
from devicelink.nut_client import NutClient, NutError, parse_server
from devicelink.provisioning import SecretFileError, read_secret_file

log = logging.getLogger("upsconnect.nut_bridge")

TOKEN_ENV = "UPSCONNECT_BRIDGE_TOKEN"
MAX_BACKOFF_S = 60.0
HTTP_TIMEOUT_S = 10.0
REPORT_BATCH = 64
MAX_QUEUED = 1000  # messages per UPS kept while the broker is away (about 80 minutes at 5 s)
REFUSED_RETRY_S = 600.0
# upsd's answers that mean "this UPS is not there right now": it shows as lost in the portal.
GONE_WORDS = {"UNKNOWN-UPS", "DATA-STALE", "DRIVER-NOT-CONNECTED"}


class BridgeError(Exception):
    """Something a person must fix (a refused token, an unreadable file); the message says what."""


# ---------------------------------------------------------------- the portal's HTTP side


def _post_json(url: str, body: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read() or b"{}").get("error") or exc.reason
        except ValueError:
            message = exc.reason
        if 400 <= exc.code < 500 and exc.code != 429:
            raise BridgeError(f"the portal refused: {message}") from None
        raise OSError(f"the portal answered {exc.code}: {message}") from None
    except (urllib.error.URLError, ValueError) as exc:
        raise OSError(f"cannot reach the portal at {url}: {getattr(exc, 'reason', exc)}") from None


@dataclass
class BridgeState:
    """What the bridge keeps between runs (mode 600): its identity, secret, and each UPS's login."""

    path: Path
    portal: str = ""
    bridge_id: str = ""
    secret: str = ""
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BridgeState:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(_read_private(path))
        except (ValueError, OSError) as exc:
            raise BridgeError(f"cannot read the bridge state file {path}: {exc}") from None
        return cls(path, data.get("portal", ""), data.get("bridge_id", ""), data.get("secret", ""),
                   dict(data.get("devices", {})))

    def save(self) -> None:
        body = {"portal": self.portal, "bridge_id": self.bridge_id, "secret": self.secret, "devices": self.devices}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=1)
        os.replace(tmp, self.path)


def _read_private(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ValueError(f"it is readable by others (mode {mode & 0o777:o}): chmod 600 it")
    return path.read_text()


def enrol(state: BridgeState, portal: str, token: str) -> None:
    """Exchange the one-time token for the bridge's id and secret, and remember them."""
    answer = _post_json(f"{portal.rstrip('/')}/api/bridges/enrol", {"token": token.strip()})
    state.portal, state.bridge_id, state.secret = portal.rstrip("/"), str(answer["bridge_id"]), answer["secret"]
    state.save()
    log.info("enrolled as bridge %s", state.bridge_id)


def register_devices(state: BridgeState, found: list[dict[str, Any]]) -> dict[str, str]:
    """Tell the portal which UPSes this bridge reports; returns serial -> MQTT password for those accepted."""
    answer = _post_json(f"{state.portal}/api/bridges/devices", {"devices": found}, state.secret)
    for serial, reason in answer.get("refused", {}).items():
        log.warning("the portal refused UPS %s: %s", serial, reason)
    return dict(answer.get("credentials", {}))


# ---------------------------------------------------------------- one UPS on the broker


class BridgedUps:
    """One UPS's own MQTT session (client id = username = its id), like a SmartConnect device's."""

    def __init__(self, serial: str, server: str, ups_name: str, password: str, endpoint: MqttEndpoint,
                 commands: queue.Queue) -> None:
        self.serial, self.server, self.ups_name = serial, server, ups_name
        self.hello: dict[str, Any] | None = None
        self.groups: list[str] = []
        self.online = False
        self.status: str | None = None
        self.test_result: str | None = None
        self._seq = int(time.time() * 1000)  # strictly increasing across restarts, as the lab does
        self._commands = commands
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=serial, clean_session=False)
        client.username_pw_set(serial, password)
        if endpoint.tls:
            client.tls_set()
        client.will_set(contract.topic(serial, Channel.STATE), contract.STATE_LOST, qos=1, retain=True)
        client.reconnect_delay_set(1, int(MAX_BACKOFF_S))
        client.max_queued_messages_set(MAX_QUEUED)  # a long broker outage must not grow memory without end
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self.client = client
        client.connect_async(endpoint.host, endpoint.port, 60)
        client.loop_start()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused UPS %s: %s", self.serial, reason)
            return
        client.subscribe(contract.topic(self.serial, Channel.CMD), qos=1)
        if self.online and self.hello is not None:
            self._announce()

    def _announce(self) -> None:
        self.client.publish(contract.topic(self.serial, Channel.HELLO), contract.encode(self.hello), qos=1, retain=True)
        self.client.publish(contract.topic(self.serial, Channel.STATE), contract.STATE_ONLINE, qos=1, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload, error = contract.decode(Channel.CMD, message.payload)
        if error:
            log.warning("UPS %s: ignored a malformed command: %s", self.serial, error)
            return
        self._commands.put((self, payload))

    def publish(self, channel: Channel, payload: dict[str, Any]) -> None:
        self.client.publish(contract.topic(self.serial, channel), contract.encode(payload), qos=1)

    def seen(self, variables: dict[str, str]) -> list[nut_mapping.StatusEvent]:
        """Publish a sample; returns (and publishes) the events its status change means."""
        hello = {"schema": contract.SCHEMA_VERSION, **nut_mapping.hello_fields(self.serial, variables)}
        if hello != self.hello or not self.online:
            self.hello, self.groups, self.online = hello, hello["outlet_groups"], True
            self._announce()
        now = time.time()
        events = nut_mapping.status_events(self.status, variables.get("ups.status"))
        test_event = nut_mapping.self_test_event(self.test_result, variables.get("ups.test.result"))
        if test_event is not None and self.test_result is not None:
            events.append(test_event)
        self.status, self.test_result = variables.get("ups.status"), variables.get("ups.test.result")
        self.publish(Channel.TELEMETRY, contract.telemetry_payload(
            ts=now, seq=self.next_seq(), variables=nut_mapping.telemetry_vars(variables)))
        for event in events:
            self.publish(Channel.EVENT, contract.event_payload(
                ts=now, seq=self.next_seq(), code=event.code, severity=event.severity, text=event.text))
        return events

    def lost(self) -> None:
        """upsd no longer has this UPS (or upsd is gone): the portal shows it as lost."""
        if self.online:
            self.online = False
            self.client.publish(contract.topic(self.serial, Channel.STATE), contract.STATE_LOST, qos=1, retain=True)
            log.info("UPS %s (%s@%s) is lost", self.serial, self.ups_name, self.server)

    def close(self) -> None:
        info = self.client.publish(contract.topic(self.serial, Channel.STATE), contract.STATE_LOST, qos=1, retain=True)
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------- the bridge


@dataclass
class UpsdServer:
    host: str
    port: int
    client: NutClient | None = None
    retry_at: float = 0.0
    backoff_s: float = 1.0
    commands: dict[str, list[str]] = field(default_factory=dict)  # ups name -> LIST CMD + LIST RW

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class NutBridge:
    """Polls every upsd each interval, publishes each UPS, runs the portal's commands between polls."""

    def __init__(self, state: BridgeState, servers: list[tuple[str, int]], endpoint: MqttEndpoint, *,
                 interval_s: float = 5.0, nut_user: tuple[str, str] | None = None) -> None:
        self.state = state
        self.servers = [UpsdServer(host, port) for host, port in servers]
        self.endpoint = endpoint
        self.interval_s = interval_s
        self.nut_user = nut_user
        self.units: dict[str, BridgedUps] = {}  # serial -> unit
        self.stop_event = threading.Event()
        self._commands: queue.Queue = queue.Queue()
        self._portal_retry_at = 0.0
        self._serial_less: set[str] = set()  # "ups@server" read once without a serial
        self._refused: dict[str, float] = {}  # serial -> when to ask the portal again

    # -- polling
    def poll(self) -> None:
        for server in self.servers:
            self._poll_server(server)

    def _server_down(self, server: UpsdServer, error: NutError) -> None:
        if server.client is not None:
            server.client.close()
        server.client = None
        server.retry_at = time.monotonic() + server.backoff_s
        log.warning("%s; retrying in %.0f s", error, server.backoff_s)
        server.backoff_s = min(server.backoff_s * 2, MAX_BACKOFF_S)
        for unit in self.units.values():
            if unit.server == server.address:
                unit.lost()

    def _poll_server(self, server: UpsdServer) -> None:
        if server.client is None:
            if time.monotonic() < server.retry_at:
                return
            server.client = NutClient(server.host, server.port)
        try:
            names = server.client.list_ups()
            readings: dict[str, dict[str, str]] = {}
            for name in names:
                try:
                    readings[name] = server.client.list_vars(name)
                    if name not in server.commands:
                        server.commands[name] = server.client.list_commands(name) + server.client.list_rw(name)
                except NutError as exc:
                    if exc.word not in GONE_WORDS:
                        raise
        except NutError as exc:
            self._server_down(server, exc)
            return
        server.backoff_s = 1.0
        readings = {name: variables for name, variables in readings.items() if self._ready(server, name, variables)}
        present = set()
        new: list[dict[str, Any]] = []
        for name, variables in readings.items():
            serial = nut_mapping.bridged_identity(variables, bridge_id=self.state.bridge_id,
                                                  server=server.address, ups_name=name)
            present.add(serial)
            if serial not in self.units and serial not in self.state.devices and not self._refused_now(serial):
                hello = nut_mapping.hello_fields(serial, variables)
                new.append({"serial": serial, "model": hello["model"], "ups_name": name, "server": server.address,
                            "commands": server.commands.get(name, [])})
        if new:
            self._register(new)
        for name, variables in readings.items():
            serial = nut_mapping.bridged_identity(variables, bridge_id=self.state.bridge_id,
                                                  server=server.address, ups_name=name)
            unit = self._unit(serial, server.address, name)
            if unit is not None:
                for event in unit.seen(variables):
                    log.info("UPS %s: %s", serial, event.text)
        for unit in self.units.values():
            if unit.server == server.address and unit.serial not in present:
                unit.lost()

    def _ready(self, server: UpsdServer, name: str, variables: dict[str, str]) -> bool:
        """A driver still starting has no ``ups.status``; one without a serial is trusted on the second read,
        so a serial that arrives a moment late never leaves a UPS registered under a derived id."""
        if "ups.status" not in variables:
            return False
        if nut_mapping.has_serial(variables):
            return True
        key = f"{name}@{server.address}"
        seen_before = key in self._serial_less
        self._serial_less.add(key)
        return seen_before

    def _refused_now(self, serial: str) -> bool:
        return self._refused.get(serial, 0.0) > time.monotonic()

    def _register(self, found: list[dict[str, Any]]) -> None:
        if time.monotonic() < self._portal_retry_at:
            return
        for start in range(0, len(found), REPORT_BATCH):  # the portal takes at most 64 UPSes per report
            batch = found[start:start + REPORT_BATCH]
            try:
                credentials = register_devices(self.state, batch)
            except (OSError, BridgeError) as exc:
                log.warning("could not register %d UPS with the portal: %s", len(batch), exc)
                self._portal_retry_at = time.monotonic() + MAX_BACKOFF_S / 4
                return
            for item in batch:
                if item["serial"] in credentials:
                    self.state.devices[item["serial"]] = {"password": credentials[item["serial"]]}
                    log.info("UPS %s (%s@%s) registered", item["serial"], item["ups_name"], item["server"])
                else:  # refused (the reason is logged): ask again later, not at every read
                    self._refused[item["serial"]] = time.monotonic() + REFUSED_RETRY_S
            self.state.save()

    def _unit(self, serial: str, server: str, name: str) -> BridgedUps | None:
        unit = self.units.get(serial)
        if unit is None and serial in self.state.devices:
            unit = BridgedUps(serial, server, name, self.state.devices[serial]["password"], self.endpoint,
                              self._commands)
            self.units[serial] = unit
        if unit is not None:
            unit.server, unit.ups_name = server, name
        return unit

    # -- commands
    def run_command(self, unit: BridgedUps, payload: dict[str, Any]) -> None:
        """Relay one portal command to upsd and publish its result."""
        status, message = self._relay(unit, CommandType(payload["type"]), payload["args"])
        unit.publish(Channel.CMD_RESULT, contract.result_payload(payload["id"], status, ts=time.time(), message=message))
        log.info("UPS %s: %s -> %s %s", unit.serial, payload["type"], status, message)

    def _relay(self, unit: BridgedUps, command: CommandType, args: dict[str, Any]) -> tuple[ResultStatus, str]:
        if self.nut_user is None:
            return ResultStatus.FAILED, "The bridge has no upsd user for commands (--nut-user-file)."
        host, port = parse_server(unit.server)
        if command is CommandType.FIRMWARE_UPGRADE:
            return ResultStatus.FAILED, "Firmware of a UPS behind NUT is not upgraded from the portal."
        if args.get("delay_s"):
            return ResultStatus.FAILED, "Delayed outlet commands are not relayed to NUT; send it without a delay."
        try:
            with NutClient(host, port) as nut:
                nut.login(*self.nut_user)
                if command is CommandType.INPUT_SENSITIVITY:
                    value = nut_mapping.sensitivity_value(args["sensitivity"], nut.list_enum(unit.ups_name, "input.sensitivity"))
                    if value is None:
                        return ResultStatus.FAILED, f"This UPS has no {args['sensitivity']} sensitivity."
                    nut.set_var(unit.ups_name, "input.sensitivity", value)
                    return ResultStatus.DONE, f"upsd set input.sensitivity to {value}"
                listed = set(nut.list_commands(unit.ups_name))
                candidates = nut_mapping.nut_command_candidates(command, args, unit.groups)
                chosen = next((c for c in candidates if c in listed), None)
                if chosen is None:
                    return ResultStatus.FAILED, f"This UPS's driver does not offer {candidates[0] if candidates else command.value}."
                nut.instcmd(unit.ups_name, chosen)
                return ResultStatus.DONE, f"upsd accepted {chosen}"
        except NutError as exc:
            return ResultStatus.FAILED, str(exc)

    # -- the loop
    def run(self) -> None:
        next_poll = 0.0
        while not self.stop_event.is_set():
            if time.monotonic() >= next_poll:
                self.poll()
                next_poll = time.monotonic() + self.interval_s
            try:
                unit, payload = self._commands.get(timeout=max(0.05, min(0.5, next_poll - time.monotonic())))
            except queue.Empty:
                continue
            self.run_command(unit, payload)

    def close(self) -> None:
        for unit in self.units.values():
            unit.close()
        for server in self.servers:
            if server.client is not None:
                server.client.close()


# ---------------------------------------------------------------- command line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devicelink.nut_bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--portal", help="the portal's address, e.g. https://ups.example.com (needed to enrol)")
    parser.add_argument("--broker", required=True, help="the portal's MQTT broker, mqtt://host:port or mqtts://host:port")
    parser.add_argument("--upsd", action="append", required=True, metavar="HOST[:PORT]",
                        help="a upsd to read (repeat for several; port 3493 by default)")
    parser.add_argument("--state-file", default="nut-bridge.json", help="where the bridge keeps its identity (mode 600)")
    parser.add_argument("--enrol-token-file", help="file holding the enrolment token (else $" + TOKEN_ENV + ")")
    parser.add_argument("--nut-user-file", help="file holding NAME:PASSWORD of a upsd.users user for commands (mode 600)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between reads (default 5)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not 0.2 <= args.interval <= 3600:
        parser.error("--interval must be between 0.2 and 3600 seconds")
    try:
        args.servers = [parse_server(text) for text in args.upsd]
        args.endpoint = parse_mqtt_url(args.broker)
    except (ValueError, BrokerError) as exc:
        parser.error(str(exc))
    return args


def _nut_user(path: str | None) -> tuple[str, str] | None:
    if path is None:
        return None
    name, sep, password = read_secret_file(path, "upsd user").partition(":")
    if not sep or not name or not password:
        raise BridgeError("the --nut-user-file must hold NAME:PASSWORD")
    return name, password


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    try:
        state = BridgeState.load(Path(args.state_file))
        nut_user = _nut_user(args.nut_user_file)
        if not state.secret:
            if not args.portal:
                raise BridgeError("this bridge is not enrolled yet: give --portal and the token from the Bridges page")
            token = (read_secret_file(args.enrol_token_file, "enrolment token") if args.enrol_token_file
                     else os.environ.get(TOKEN_ENV, ""))
            if not token:
                raise BridgeError(f"this bridge is not enrolled yet: put the token in ${TOKEN_ENV} or --enrol-token-file")
            enrol(state, args.portal, token)
        elif args.portal and args.portal.rstrip("/") != state.portal:
            raise BridgeError(f"{args.state_file} belongs to the portal at {state.portal}; use another --state-file")
    except (BridgeError, SecretFileError, OSError) as exc:
        print(f"nut-bridge: {exc}", file=sys.stderr)
        return 2
    bridge = NutBridge(state, args.servers, args.endpoint, interval_s=args.interval, nut_user=nut_user)

    def request_stop(signum: int, frame: Any) -> None:
        bridge.stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("bridging %s to %s", ", ".join(s.address for s in bridge.servers), args.endpoint.url)
    try:
        bridge.run()
    finally:
        bridge.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
