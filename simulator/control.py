"""The loopback-only HTTP control interface of a running fleet: LCDs, power, load, speed, scenarios.

GET  /devices                     every device: serial, model, status line, connected
GET  /devices/<serial>            the LCD: status line, registration code, firmware, ...
POST /devices/<serial>/lcd        {"action": "firmware.install"|"test.battery.start"|"input.sensitivity", "value": ...}
POST /devices/<serial>/power      {"kind": "blackout"|"brownout"|"surge"|"distortion"|"frequency"|"restore",
                                   "duration_s": 300, "severity": 1.0}
POST /devices/<serial>/load       {"percent": 40} | {"profile": "office"} | {"scale": 1.5}
POST /devices/<serial>/kill       drop the link without DISCONNECT (the broker sends the last will)
POST /devices                     {"count": 3, "seed": 7, "model": "SMT1500RMI2UC"}  add devices, with claim codes
POST /devices/<serial>/remove     take a device out of the lab (it says lost and disconnects)
GET  /devices/<serial>/published  its last telemetry message and recent events
GET  /stats                       fleet counters and simulated time
POST /speed                       {"speed": 60}
POST /advance                     {"seconds": 3600}  jump simulated time forward
POST /scenario                    a TOML scenario as the body
GET  /scenarios                   the scenario files shipped in simulator/scenarios/
POST /runs                        {"scenario": "brownout"} or {"kind": "blackout", ...}, optional "serials": [...]
GET  /runs                        runs with their state and progress
POST /runs/<id>/stop              end a run's power problems and heat, drop its pending changes
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devicelink.brokers import LOOPBACK, BrokerError, ensure_port_free
from simulator.device import POWER_KINDS
from simulator.fleet import Fleet, LinkedDevice
from simulator.scenario_runs import RunBook
from simulator.scenarios import (
    EVENT_KINDS,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
    single_event,
)

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
MAX_ADDED_AT_ONCE = 500
# Builds new devices for POST /devices: (count, seed, models or None) -> devices not yet in a fleet
DeviceMaker = Callable[[int, int, list[str] | None], list[LinkedDevice]]
# Gives new devices their broker logins (a private Mosquitto needs them): {serial: password}
Provisioner = Callable[[dict[str, str]], None]


class ControlError(Exception):
    """A bad request; the message goes back to the caller with the status."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    """Serve the control API for ``fleet`` on 127.0.0.1:``port`` in a background thread."""

    def __init__(
        self,
        fleet: Fleet,
        port: int = 0,
        seed: int = 0,
        *,
        make_devices: DeviceMaker | None = None,
        provision: Provisioner | None = None,
    ) -> None:
        if port:
            try:
                ensure_port_free(LOOPBACK, port, "--control-port")
            except BrokerError as exc:
                raise ControlError(str(exc)) from None
        self.fleet = fleet
        self.seed = seed
        self.make_devices = make_devices
        self.provision = provision
        self.runs = RunBook()
        handler = type("Handler", (_Handler,), {"control": self})
        self.httpd = ThreadingHTTPServer((LOOPBACK, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fleet-control", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the operations, each returning a JSON-ready value

    def _device(self, serial: str) -> None:
        if serial not in self.fleet.devices:
            raise ControlError(f"no device {serial!r} in this fleet", HTTPStatus.NOT_FOUND)

    def list_devices(self) -> list[dict[str, Any]]:
        rows = []
        for serial in list(self.fleet.devices):
            lcd = self.fleet.call(serial, lambda d: d.lcd())
            rows.append(
                {
                    "serial": serial,
                    "model": lcd["model"],
                    "status": lcd["status"],
                    "firmware": lcd["firmware"],
                    "connected": self.fleet.is_connected(serial),
                }
            )
        return rows

    def lcd(self, serial: str) -> dict[str, Any]:
        self._device(serial)
        view = self.fleet.call(serial, lambda d: (d.advance_to(self.fleet.clock.now()), d.lcd())[1])
        view["connected"] = self.fleet.is_connected(serial)
        return view

    def press(self, serial: str, body: dict[str, Any]) -> dict[str, Any]:
        self._device(serial)
        action, value = body.get("action"), body.get("value")
        now = self.fleet.clock.now()
        try:
            message = self.fleet.call(serial, lambda d: (d.advance_to(now), d.lcd_action(action, value))[1])
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return {"serial": serial, "action": action, "message": message, "lcd": self.lcd(serial)}

    def power(self, serial: str, body: dict[str, Any]) -> dict[str, Any]:
        self._device(serial)
        kind = body.get("kind")
        if kind not in POWER_KINDS:
            raise ControlError(f"kind must be one of {', '.join(POWER_KINDS)}")
        duration = _number(body, "duration_s", math.inf, 0, 10 * 365 * 86400)
        severity = _number(body, "severity", 1.0, 0.01, 2)
        now = self.fleet.clock.now()

        def apply(device: Any) -> None:
            device.advance_to(now)
            device.schedule_power(kind, device.sim_time_s, duration, severity)

        self.fleet.call(serial, apply)
        return {"serial": serial, "kind": kind, "duration_s": None if math.isinf(duration) else duration}

    def load(self, serial: str, body: dict[str, Any]) -> dict[str, Any]:
        self._device(serial)
        unknown = sorted(set(body) - {"percent", "profile", "scale"})
        if unknown or not body:
            raise ControlError("give percent, profile and/or scale")
        try:
            self.fleet.call(serial, lambda d: d.set_load(**body))
        except (ValueError, TypeError) as exc:
            raise ControlError(str(exc)) from None
        return {"serial": serial, **body}

    def kill(self, serial: str) -> dict[str, Any]:
        self._device(serial)
        self.fleet.kill_device(serial)
        return {"serial": serial, "killed": True}

    def stats(self) -> dict[str, Any]:
        return asdict(self.fleet.stats())

    def speed(self, body: dict[str, Any]) -> dict[str, Any]:
        speed = _number(body, "speed", None, 1e-6, 1_000_000)
        self.fleet.clock.set_speed(speed)
        return {"speed": speed}

    def advance(self, body: dict[str, Any]) -> dict[str, Any]:
        seconds = _number(body, "seconds", None, 0, 20 * 365 * 86400)
        self.fleet.clock.advance(seconds)
        return {"sim_time_s": self.fleet.clock.now()}

    def add_devices(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.make_devices is None:
            raise ControlError("this fleet cannot add devices", HTTPStatus.NOT_IMPLEMENTED)
        count = int(_number(body, "count", None, 1, MAX_ADDED_AT_ONCE))
        if count != body["count"]:
            raise ControlError(f"count must be a whole number between 1 and {MAX_ADDED_AT_ONCE}")
        seed = body.get("seed", self.seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31:
            raise ControlError("seed must be a whole number from 0 to 2147483648")
        model = body.get("model") or None
        if model is not None and not isinstance(model, str):
            raise ControlError("model must be a catalogue model name")
        try:
            devices = self.make_devices(count, seed, [model] if model else None)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        taken = sorted(d.serial for d in devices if d.serial in self.fleet.devices)
        if taken:
            raise ControlError(
                f"seed {seed} makes serial(s) already in this fleet ({', '.join(taken[:3])}); choose another seed"
            )
        if self.provision is not None:
            try:
                self.provision({d.serial: d.password for d in devices})
            except ValueError as exc:
                raise ControlError(f"the broker cannot take new devices: {exc}") from None
        self.fleet.add_devices(devices)
        return {
            "added": [
                {"serial": d.serial, "model": lcd["model"], "claim_code": lcd["registration_code"]}
                for d in devices
                for lcd in [self.fleet.call(d.serial, lambda device: device.lcd())]
            ]
        }

    def remove(self, serial: str) -> dict[str, Any]:
        self._device(serial)
        self.fleet.remove_device(serial)
        return {"serial": serial, "removed": True}

    def published(self, serial: str) -> dict[str, Any]:
        self._device(serial)
        return {"serial": serial, **self.fleet.last_published(serial)}

    def scenario_files(self) -> dict[str, str]:
        return shipped_scenarios()

    def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a shipped scenario or a one-event quick action on chosen devices (default: all)."""
        serials = body.get("serials")
        if serials is None:
            chosen = sorted(self.fleet.devices)
        elif isinstance(serials, list) and serials and all(isinstance(s, str) for s in serials):
            unknown = sorted(set(serials) - set(self.fleet.devices))
            if unknown:
                raise ControlError(f"no device(s) {', '.join(unknown[:3])} in this fleet", HTTPStatus.NOT_FOUND)
            chosen = sorted(set(serials))
        else:
            raise ControlError("serials must be a non-empty list of serials (or left out for every device)")
        try:
            scenario = self._scenario_of(body)
        except ScenarioError as exc:
            raise ControlError(str(exc)) from None
        return self._run(scenario, chosen)

    def _scenario_of(self, body: dict[str, Any]) -> Scenario:
        name = body.get("scenario")
        if name is not None:
            if name not in shipped_scenarios():
                raise ScenarioError(f"no scenario {name!r}; shipped: {', '.join(shipped_scenarios())}")
            return load_scenario(name)
        kind = body.get("kind")
        if kind not in EVENT_KINDS:
            raise ScenarioError(f"give a scenario name, or a kind: one of {', '.join(EVENT_KINDS)}")
        raw = {key: value for key, value in body.items() if key not in ("serials", "duration_s")}
        if body.get("duration_s") is not None:
            raw["duration"] = body["duration_s"]
        return single_event(raw, _QUICK_NAMES.get(kind, kind))

    def _run(self, scenario: Scenario, serials: list[str]) -> dict[str, Any]:
        start = self.fleet.clock.now()
        counts = {}
        try:
            for index, event in enumerate(scenario.events):
                chosen = scenario.targets(index, serials, self.seed)
                counts[f"{index + 1}:{event.kind}"] = len(chosen)
                for serial in chosen:
                    self.fleet.call(serial, lambda d, e=event: _apply(d, e, start))
        except ScenarioError as exc:
            raise ControlError(str(exc)) from None
        if scenario.speed is not None:
            self.fleet.clock.set_speed(scenario.speed)
        run = self.runs.add(scenario, serials, start, counts)
        return {**run.as_dict(start), "speed": self.fleet.clock.speed}

    def list_runs(self) -> list[dict[str, Any]]:
        now = self.fleet.clock.now()
        return [run.as_dict(now) for run in self.runs.all()]

    def stop_run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(int(run_id)) if run_id.isdigit() else None
        if run is None:
            raise ControlError(f"no run {run_id!r}", HTTPStatus.NOT_FOUND)
        now = self.fleet.clock.now()
        if run.state(now) == "running":
            for serial in run.serials:
                if serial in self.fleet.devices:  # it may have been removed since
                    self.fleet.call(serial, lambda d: (d.advance_to(now), d.end_conditions(now)))
            run.stopped_s = now
        return run.as_dict(now)

    def scenario(self, text: str) -> dict[str, Any]:
        try:
            scenario = parse_scenario(text, "posted scenario")
        except ScenarioError as exc:
            raise ControlError(str(exc)) from None
        run = self._run(scenario, sorted(self.fleet.devices))
        return {
            "name": run["name"],
            "run": run["id"],
            "started_at": run["started_s"],
            "devices_per_event": run["devices_per_event"],
            "speed": run["speed"],
        }


_QUICK_NAMES = {
    "blackout": "Power cut",
    "restore": "Power restored",
    "brownout": "Brownout",
    "surge": "Surge",
    "ageing": "Battery ageing",
    "heat_wave": "Heat wave",
    "replace_battery": "Battery replaced",
}


def _apply(device: Any, event: Any, start: float) -> None:
    from simulator.scenarios import apply_event

    device.advance_to(start)
    apply_event(device, event, start + event.at_s)


def _number(body: dict[str, Any], key: str, default: float | None, low: float, high: float) -> float:
    value = body.get(key, default)
    if value is None:
        raise ControlError(f"{key} is required")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (low <= value <= high or value == default)
    ):
        raise ControlError(f"{key} must be a number between {low:g} and {high:g}")
    return float(value)


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "upsconnect-lab"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("control: " + format, *args)

    def _send(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body, indent=1, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ControlError("request body too large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return self.rfile.read(length) if length else b""

    def _json(self) -> dict[str, Any]:
        try:
            body = json.loads(self._body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ControlError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        return body

    def _route(self, method: str) -> Any:
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        c = self.control
        match method, parts:
            case "GET", ["devices"]:
                return c.list_devices()
            case "GET", ["devices", serial]:
                return c.lcd(serial)
            case "GET", ["stats"]:
                return c.stats()
            case "GET", ["devices", serial, "published"]:
                return c.published(serial)
            case "GET", ["scenarios"]:
                return c.scenario_files()
            case "GET", ["runs"]:
                return c.list_runs()
            case "POST", ["devices"]:
                return c.add_devices(self._json())
            case "POST", ["devices", serial, "remove"]:
                return c.remove(serial)
            case "POST", ["runs"]:
                return c.start_run(self._json())
            case "POST", ["runs", run_id, "stop"]:
                return c.stop_run(run_id)
            case "POST", ["devices", serial, "lcd"]:
                return c.press(serial, self._json())
            case "POST", ["devices", serial, "power"]:
                return c.power(serial, self._json())
            case "POST", ["devices", serial, "load"]:
                return c.load(serial, self._json())
            case "POST", ["devices", serial, "kill"]:
                return c.kill(serial)
            case "POST", ["speed"]:
                return c.speed(self._json())
            case "POST", ["advance"]:
                return c.advance(self._json())
            case "POST", ["scenario"]:
                try:
                    text = self._body().decode()
                except UnicodeDecodeError:
                    raise ControlError("the scenario must be UTF-8 TOML") from None
                return c.scenario(text)
        raise ControlError(f"no such endpoint: {method} {self.path}", HTTPStatus.NOT_FOUND)

    def _handle(self, method: str) -> None:
        try:
            self._send(HTTPStatus.OK, self._route(method))
        except ControlError as exc:
            self._send(exc.status, {"error": str(exc)})
        except TimeoutError:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the fleet did not answer in time"})
        except Exception as exc:  # the lab keeps running whatever a request did
            log.exception("control request failed")
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc}"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")
