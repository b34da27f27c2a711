"""`make run`: the whole product on one machine, zero set-up.

Starts a broker (the one at UPSCONNECT_MQTT_URL, else a private Mosquitto when the binary exists,
else the embedded amqtt broker), prepares the database and demo data, then runs the ingest worker,
the web portal and a simulated demo fleet as child processes until Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from datetime import UTC
from pathlib import Path

from devicelink.brokers import (
    BrokerError,
    EmbeddedBroker,
    PrivateMosquitto,
    ensure_port_free,
    free_port,
    mosquitto_binary,
    parse_mqtt_url,
)
from devicelink.provisioning import claim_code, device_password, factory_key_from_env, manufacture
from portal.lab_mail import LabMailServer
from portal.logging_setup import configure_from_environment
from portal.supervisor import Supervisor

PORTAL_MQTT_USER = "portal"
MAINTENANCE_EVERY_S = 15 * 60
# battery first: it reads full-resolution telemetry that maintenance later folds into rollups.
SCHEDULED_JOBS = ("battery", "maintenance", "renewals")


def _secret(instance: Path, name: str) -> str:
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def provision_bridged_devices(app, broker, factory_key: bytes, known: set[str]) -> int:
    """Mosquitto reads logins from its password file: give UPSes a NUT bridge registered theirs (docs/nut.md).

    The embedded broker derives every device's password from the factory key, so it needs nothing.
    ``known`` holds the serials already added; returns how many were added now.
    """
    if not isinstance(broker, PrivateMosquitto):
        return 0
    from sqlalchemy.exc import OperationalError

    from portal.extensions import db
    from portal.services.fleet.nut_bridges import bridged_serials

    with app.app_context():
        try:
            new = bridged_serials() - known
        except OperationalError:  # the database busy (SQLite): try again on the next round
            return 0
        finally:
            db.session.remove()
    if new:
        broker.add_devices({serial: device_password(factory_key, serial) for serial in new})
        known |= new
    return len(new)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m portal.lab_stack", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")), help="web port (default 5000)")
    parser.add_argument("--devices", type=int, default=12, help="simulated devices in the demo fleet (0: none)")
    parser.add_argument("--seed", type=int, default=2026, help="same seed, same fleet")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between each device's telemetry")
    parser.add_argument("--mqtt-port", type=int, default=0, help="port of the broker the portal starts (0: a free one)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535 or not 0 <= args.mqtt_port <= 65535:
        parser.error("ports are numbers from 1 to 65535")
    if not 0 <= args.devices <= 10_000:
        parser.error("--devices must be between 0 and 10000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("UPSCONNECT_LAB_MODE", "1")
    # Links in emails and webhooks point at this portal, whatever port it was given.
    os.environ["UPSCONNECT_PUBLIC_URL"] = f"http://127.0.0.1:{args.port}"
    configure_from_environment()
    stop = {"now": False}

    def request_stop(signum, frame):
        stop["now"] = True

    # Before the broker or any child starts: a stop asked for from here on still stops them all.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.services.accounts.demo_data import ensure_demo_data
    from portal.services.clock import clock

    app = create_app()
    instance = Path(app.instance_path)
    try:
        ensure_port_free("127.0.0.1", args.port, option="PORT=<n> (make run PORT=5001)")
    except BrokerError as error:
        print(f"Cannot start the portal: {error}", file=sys.stderr)
        return 2
    with app.app_context():
        upgrade()
        credentials = ensure_demo_data(seed=args.seed, instance_path=str(instance))
        db.session.commit()
        # One lab clock: the fleet's simulated time starts where the lab clock stands (it may run ahead).
        lab_now_s = clock().now().replace(tzinfo=UTC).timestamp()
    configure_from_environment()  # the migrations' own logging set-up replaced ours

    factory_key_text = app.config["FACTORY_KEY"]
    factory_key = factory_key_from_env(factory_key_text)
    fleet = manufacture(args.devices, args.seed, factory_key=factory_key) if args.devices else []
    portal_password = _secret(instance, "mqtt_portal_password")
    env = {**os.environ, "UPSCONNECT_LAB_MODE": "1", "UPSCONNECT_FACTORY_KEY": factory_key_text, "FLASK_APP": "portal"}

    broker = None
    try:
        if app.config.get("MQTT_URL"):
            broker_url, kind = app.config["MQTT_URL"], "external"
        else:
            mqtt_port = args.mqtt_port or free_port()
            if mosquitto_binary():
                broker = PrivateMosquitto.for_factory(
                    instance / "mosquitto", [d.serial for d in fleet], factory_key, port=mqtt_port,
                    users={PORTAL_MQTT_USER: portal_password}, max_inflight_messages=1000,
                )
                kind = "mosquitto"
            else:
                broker = EmbeddedBroker(port=mqtt_port, users={PORTAL_MQTT_USER: portal_password}, factory_key=factory_key)
                kind = "embedded"
            broker.start()
            broker_url = f"mqtt://{PORTAL_MQTT_USER}:{portal_password}@127.0.0.1:{broker.service_port}"
    except BrokerError as error:
        print(f"Cannot start the message broker: {error}", file=sys.stderr)
        return 2
    env.update(UPSCONNECT_MQTT_URL=broker_url, UPSCONNECT_MQTT_BROKER_KIND=kind)
    if broker is not None and not app.config.get("BRIDGE_BROKER_URL"):
        # the portal's own login uses the service listener; NUT bridges log in as devices, on the devices' one
        env["UPSCONNECT_BRIDGE_BROKER_URL"] = broker.url

    # Mail goes to the lab's own SMTP server; the Lab Outbox page reads it.
    mail = LabMailServer(app.config["LAB_OUTBOX_DIR"])
    mail.start()
    env.update(UPSCONNECT_MAIL_SERVER=mail.host, UPSCONNECT_MAIL_PORT=str(mail.port))

    logs = instance / "logs"
    logs.mkdir(exist_ok=True)
    python = sys.executable
    control_port = free_port()
    env["UPSCONNECT_LAB_CONTROL_URL"] = f"http://127.0.0.1:{control_port}"  # the lab console talks to the fleet
    supervisor = Supervisor(env)

    def spawn(name: str, command: list[str]) -> None:
        supervisor.spawn(name, command, logs / f"{name}.log")

    try:
        for worker in ("ingest", "notify"):  # telemetry in; alerts out
            if worker in app.cli.list_commands(None):
                spawn(worker, [python, "-m", "flask", worker])
        if fleet:
            provision = ["--provision-dir", str(broker.config_dir)] if isinstance(broker, PrivateMosquitto) else []
            spawn("fleet", [
                python, "-m", "simulator", "fleet", "--count", str(args.devices), "--seed", str(args.seed),
                # devices log in with their own credentials, on the devices' port (client id = serial)
                "--broker", broker.url if broker is not None else parse_mqtt_url(broker_url).url,
                "--interval", str(args.interval), "--speed", str(args.speed),  # the factory key comes by env
                "--control-port", str(control_port), "--start", f"{lab_now_s:.3f}", *provision,
            ])
        spawn("web", [python, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--bind", f"127.0.0.1:{args.port}",
                      "--graceful-timeout", "3", "--access-logfile", "-", "portal:create_app()"])
        _print_banner(args, kind, broker_url, credentials, fleet, factory_key, control_port, logs)
        next_maintenance = time.monotonic()
        provisioned: set[str] = set()
        next_provision = time.monotonic()
        while not stop["now"]:
            if time.monotonic() >= next_provision:  # a bridged UPS's login, within 2 s of its report
                provision_bridged_devices(app, broker, factory_key, provisioned)
                next_provision = time.monotonic() + 2
            if time.monotonic() >= next_maintenance:
                # The scheduled jobs a production install runs from cron; each is safe to run any number of times.
                for job in SCHEDULED_JOBS:
                    if job in app.cli.list_commands(None):
                        supervisor.run_job([python, "-m", "flask", job], logs / "maintenance.log")
                next_maintenance = time.monotonic() + MAINTENANCE_EVERY_S
            supervisor.check()  # a worker that exited is started again, with backoff
            time.sleep(0.2)
    finally:
        supervisor.stop()
        if broker is not None:
            broker.stop()
        mail.stop()
        print("upsconnect stopped.")
    return 0


def _print_banner(args, kind, broker_url, credentials, fleet, factory_key, control_port, logs) -> None:
    safe_url = parse_mqtt_url(broker_url).url
    lines = [
        "",
        f"  upsconnect is running at http://127.0.0.1:{args.port}   (Ctrl-C stops everything)",
        "",
        "  Sign in with:",
        *[f"    {line}" for line in credentials],
        "",
        f"  Message broker: {kind} at {safe_url}",
    ]
    if fleet:
        lines += [
            f"  Demo fleet: {len(fleet)} simulated devices; the Lab › Console page drives it "
            f"(control API at http://127.0.0.1:{control_port})",
            "  Claim one from the dashboard with its serial and the code on its display:",
            *[f"    {d.model:<14} {d.serial}   code {claim_code(factory_key, d.serial)}" for d in fleet[:5]],
        ]
    lines += [f"  Sent mail: the Lab › Outbox page.   Logs: {logs}", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
