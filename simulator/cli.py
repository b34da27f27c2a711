"""``python -m simulator``: run a simulated fleet, print device identities, and more."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from devicelink.brokers import (
    BrokerError,
    EmbeddedBroker,
    PrivateMosquitto,
    broker_from_url,
    mosquitto_binary,
)
from devicelink.provisioning import (
    FACTORY_KEY_ENV,
    SecretFileError,
    claim_code,
    factory_key_from_env,
    factory_key_from_file,
    manufacture,
    read_secret_file,
)

log = logging.getLogger("simulator")


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _models(text: str) -> list[str]:
    from catalog.ups_models import CATALOG

    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in CATALOG]
    if unknown or not models:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {', '.join(unknown) or text!r}; known: {', '.join(sorted(CATALOG))}"
        )
    return models


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m simulator", description="The upsconnect device lab.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    # no abbreviations: "--factory-key SECRET" must be an error, not taken as --factory-key-file
    fleet = sub.add_parser("fleet", help="run a simulated fleet against a broker", allow_abbrev=False)
    fleet.add_argument("--count", type=_positive_int, default=10, help="number of devices (default 10)")
    fleet.add_argument("--seed", type=int, default=0, help="same seed, same fleet, same telemetry")
    fleet.add_argument(
        "--broker",
        default="embedded",
        help="embedded (default), mosquitto (a private one), or a URL mqtt://user:pass@host:port / mqtts://",
    )
    fleet.add_argument(
        "--mqtt-port", type=_port, default=0, help="port for a broker the lab starts (default: free)"
    )
    fleet.add_argument(
        "--interval", type=_positive_float, default=10.0, help="wall seconds between telemetry"
    )
    fleet.add_argument("--speed", type=_positive_float, default=1.0, help="simulated seconds per wall second")
    fleet.add_argument("--step", type=_positive_float, default=None, help="model step in simulated seconds")
    fleet.add_argument("--scenario", help="a TOML scenario file, or the name of one in simulator/scenarios/")
    fleet.add_argument(
        "--control-port", type=_port, default=None, help="serve the control API on 127.0.0.1:PORT (0 = free)"
    )
    fleet.add_argument(
        "--nut-port",
        type=_port,
        default=None,
        help="serve the fleet over the NUT network protocol (upsc, upsmon...) on PORT (0 = free)",
    )
    fleet.add_argument("--nut-host", default="127.0.0.1", help="address for --nut-port (default 127.0.0.1)")
    fleet.add_argument(
        "--nut-users",
        default=None,
        metavar="FILE",
        help="NUT users in upsd.users format (default: admin and monitor with passwords made up now)",
    )
    fleet.add_argument(
        "--factory-key-file",
        default=None,
        metavar="FILE",
        help=f"file holding the factory key, mode 600 (default: ${FACTORY_KEY_ENV}, else the lab key)",
    )
    fleet.add_argument("--models", type=_models, default=None, help="comma-separated catalogue models")
    fleet.add_argument(
        "--portal-user-file",
        default=None,
        metavar="FILE",
        help="file holding NAME:PASSWORD of a full-access user on a broker the lab starts, mode 600",
    )
    fleet.add_argument(
        "--duration", type=_positive_float, default=None, help="stop after this many wall seconds"
    )
    fleet.add_argument("--shards", type=_positive_int, default=1, help="selector loop threads (default 1)")
    fleet.add_argument(
        "--connect-rate", type=_positive_float, default=1000.0, help="new connections per second"
    )
    fleet.add_argument(
        "--start", type=float, default=None, help="simulated start, unix seconds (default: now)"
    )
    fleet.add_argument(
        "--provision-dir",
        default=None,
        metavar="DIR",
        help="config folder of a private Mosquitto the lab runs (make run): devices added later get logins there",
    )
    fleet.add_argument("-v", "--verbose", action="store_true")
    fleet.set_defaults(run=run_fleet)

    made = sub.add_parser("manufacture", help="print device identities as JSON (for provisioning)", allow_abbrev=False)
    made.add_argument("--count", type=_positive_int, default=10)
    made.add_argument("--seed", type=int, default=0)
    made.add_argument("--models", type=_models, default=None)
    made.add_argument("--factory-key-file", default=None, metavar="FILE", help="file holding the factory key, mode 600")
    made.set_defaults(run=run_manufacture)

    from simulator import control_cli, runtime_calculator

    control_cli.register(sub)

    # register() names its handler `func` (its own tests call that); main() dispatches on `run`
    runtime_calculator.register(sub).set_defaults(run=runtime_calculator.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokerError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _factory_key(args: argparse.Namespace) -> bytes:
    """From --factory-key-file, else the environment: a secret never travels on a command line (ps shows it)."""
    if args.factory_key_file is None:
        return factory_key_from_env()
    try:
        return factory_key_from_file(args.factory_key_file)
    except SecretFileError as exc:
        raise UsageError(str(exc)) from None


def run_manufacture(args: argparse.Namespace) -> int:
    key = _factory_key(args)
    devices = manufacture(args.count, args.seed, args.models, factory_key=key)
    rows = [{**d.as_dict(), "claim_code": claim_code(key, d.serial)} for d in devices]
    json.dump(rows, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def _start_broker(args: argparse.Namespace, serials: list[str], key: bytes, portal: dict[str, str]) -> Any:
    kind = args.broker
    port = args.mqtt_port or None
    if kind == "embedded":
        broker = EmbeddedBroker(port=port, users=portal, factory_key=key)
    elif kind == "mosquitto":
        if mosquitto_binary() is None:
            raise UsageError("mosquitto is not installed; use --broker embedded or a broker URL")
        config_dir = tempfile.mkdtemp(prefix="upsconnect-mosquitto-")
        broker = PrivateMosquitto.for_factory(config_dir, serials, key, port=port, users=portal)
    elif "://" in kind:
        broker = broker_from_url(kind)
    else:
        raise UsageError(f"--broker must be embedded, mosquitto or a mqtt:// URL, got {kind!r}")
    broker.start()
    return broker


def run_fleet(args: argparse.Namespace) -> int:
    from simulator.control import ControlError, ControlServer
    from simulator.device import DEFAULT_STEP_S, SimulatedDevice
    from simulator.fleet import Fleet, SimClock
    from simulator.nut_server import NutConfigError, load_users
    from simulator.scenarios import ScenarioError, load_scenario

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    scenario = None
    if args.scenario:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
    nut_users = None
    if args.nut_users is not None:
        if args.nut_port is None:
            raise UsageError("--nut-users needs --nut-port")
        try:
            nut_users = load_users(args.nut_users)
        except NutConfigError as exc:
            raise UsageError(str(exc)) from None
    key = _factory_key(args)
    identities = manufacture(args.count, args.seed, args.models, factory_key=key)
    portal = {}
    if args.portal_user_file:
        try:
            name, sep, password = read_secret_file(args.portal_user_file, "portal user").partition(":")
        except SecretFileError as exc:
            raise UsageError(str(exc)) from None
        if not sep or not name or not password:
            raise UsageError("the --portal-user-file must hold NAME:PASSWORD")
        portal[name] = password
    elif "://" not in args.broker:
        portal["portal"] = secrets.token_urlsafe(12)
    speed = scenario.speed if scenario and scenario.speed and args.speed == 1.0 else args.speed
    clock = SimClock(speed=speed, start_s=args.start)
    # a grid fine enough for transfers, coarse enough that a fast clock does not drown the CPU
    step_s = args.step or max(DEFAULT_STEP_S, args.interval * speed / 50.0)
    devices = [
        SimulatedDevice(identity, seed=args.seed, sim_start_s=clock.start_s, factory_key=key, step_s=step_s)
        for identity in identities
    ]

    def make_devices(count: int, seed: int, models: list[str] | None) -> list[SimulatedDevice]:
        """Devices added while the fleet runs (control API): born at the fleet's simulated now."""
        return [
            SimulatedDevice(identity, seed=seed, sim_start_s=clock.now(), factory_key=key, step_s=step_s)
            for identity in manufacture(count, seed, models, factory_key=key)
        ]

    broker = _start_broker(args, [i.serial for i in identities], key, portal)
    provision = None
    if isinstance(broker, PrivateMosquitto):
        provision = broker.add_devices
    elif args.provision_dir:
        provision_dir = args.provision_dir

        def provision(logins: dict[str, str]) -> None:
            try:
                PrivateMosquitto.add_to_running(provision_dir, logins)
            except BrokerError as exc:
                raise ValueError(str(exc)) from None
    fleet = control = nut = None
    try:
        if scenario is not None:
            counts = scenario.apply(devices, clock.start_s, args.seed)
            log.info("scenario %r: %s", scenario.name, counts)
        fleet = Fleet(
            devices,
            broker.endpoint(),
            clock=clock,
            interval_s=args.interval,
            shards=max(1, args.shards),
            connect_rate_per_s=args.connect_rate,
            seed=args.seed,
        )
        if args.control_port is not None:
            try:
                control = ControlServer(
                    fleet, args.control_port, seed=args.seed, make_devices=make_devices, provision=provision
                ).start()
            except ControlError as exc:
                raise UsageError(str(exc)) from None
        if args.nut_port is not None:
            nut = _start_nut(fleet, args.nut_host, args.nut_port, nut_users)
        for name, password in portal.items():
            log.info(
                "broker %s (%s) for devices, %s for portal user %s:%s",
                broker.url, broker.kind, broker.service_url, name, password,
            )
        if "://" in args.broker:
            log.info("broker %s", broker.url)
        if control is not None:
            log.info("control API on %s", control.url)
        fleet.start()
        _run_until_stopped(fleet, args.duration)
    finally:
        if nut is not None:
            nut.stop()
        if fleet is not None and fleet.started_at is not None:
            fleet.stop()
        if control is not None:
            control.stop()
        broker.stop()
        # A private Mosquitto the fleet started lives in a temporary folder: leave nothing behind.
        if isinstance(broker, PrivateMosquitto):
            shutil.rmtree(broker.config_dir, ignore_errors=True)
    stats = fleet.stats()
    log.info(
        "stopped: %d devices, %d messages published, %d acknowledged",
        stats.devices,
        stats.published,
        stats.acked,
    )
    return 0


def _start_nut(fleet: Any, host: str, port: int, users: Any) -> Any:
    """The NUT data server beside the fleet; prints where it listens and, by default, its users."""
    from simulator.nut_server import NutConfigError, NutServer, lab_users

    generated = users is None
    users = users or lab_users()
    try:
        server = NutServer(fleet, host, port, users)
    except NutConfigError as exc:
        raise UsageError(str(exc)) from None
    first = next(iter(fleet.devices), "SERIAL")
    log.info("NUT server on %s (try: upsc %s@%s)", server.address, first, server.address)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("NUT server: %s is not loopback; NUT sends passwords in clear text", host)
    for user in users.values():
        if generated:
            log.info("NUT user %s:%s (%s)", user.name, user.password, user.summary())
        else:
            log.info("NUT user %s (%s)", user.name, user.summary())
    return server.start()


def _run_until_stopped(fleet: Any, duration_s: float | None) -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    previous_term = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tty = sys.stderr.isatty()
    started = time.monotonic()
    last_log = 0.0
    try:
        while not stop.wait(1.0):
            now = time.monotonic()
            stats = fleet.stats()
            sim = datetime.fromtimestamp(stats.sim_time_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
            line = (
                f"connected {stats.connected}/{stats.devices} | {stats.ack_rate_per_s:7.1f} msg/s | "
                f"published {stats.published} | events {stats.events} | commands {stats.commands} | "
                f"sim {sim} x{stats.speed:g}"
            )
            if tty:
                sys.stderr.write("\r" + line + "\x1b[K")
                sys.stderr.flush()
            elif now - last_log >= 10.0:
                last_log = now
                log.info(line)
            if duration_s is not None and now - started >= duration_s:
                break
    finally:
        if tty:
            sys.stderr.write("\n")
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(os.sys.argv[1:]))
