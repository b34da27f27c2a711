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
import subprocess
import sys
import time
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
from devicelink.provisioning import claim_code, factory_key_from_env, manufacture
from portal.lab_mail import LabMailServer

PORTAL_MQTT_USER = "portal"
MAINTENANCE_EVERY_S = 15 * 60
SCHEDULED_JOBS = ("maintenance", "renewals")


def _secret(instance: Path, name: str) -> str:
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


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
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.services.accounts.demo_data import ensure_demo_data

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
            broker_url = f"mqtt://{PORTAL_MQTT_USER}:{portal_password}@127.0.0.1:{broker.port}"
    except BrokerError as error:
        print(f"Cannot start the message broker: {error}", file=sys.stderr)
        return 2
    env.update(UPSCONNECT_MQTT_URL=broker_url, UPSCONNECT_MQTT_BROKER_KIND=kind)

    # Mail goes to the lab's own SMTP server; the Lab Outbox page reads it.
    mail = LabMailServer(app.config["LAB_OUTBOX_DIR"])
    mail.start()
    env.update(UPSCONNECT_MAIL_SERVER=mail.host, UPSCONNECT_MAIL_PORT=str(mail.port))

    logs = instance / "logs"
    logs.mkdir(exist_ok=True)
    python = sys.executable
    children: list[tuple[str, subprocess.Popen]] = []

    def spawn(name: str, command: list[str]) -> None:
        log = (logs / f"{name}.log").open("a")
        children.append((name, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)))

    for worker in ("ingest", "notify"):  # telemetry in; alerts out
        if worker in app.cli.list_commands(None):
            spawn(worker, [python, "-m", "flask", worker])
    control_port = free_port()
    if fleet:
        spawn("fleet", [
            python, "-m", "simulator", "fleet", "--count", str(args.devices), "--seed", str(args.seed),
            "--broker", parse_mqtt_url(broker_url).url,  # devices log in with their own credentials
            "--interval", str(args.interval), "--speed", str(args.speed),  # the factory key comes by env
            "--control-port", str(control_port),
        ])
    spawn("web", [python, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--bind", f"127.0.0.1:{args.port}",
                  "--access-logfile", "-", "portal:create_app()"])

    maintenance_log = (logs / "maintenance.log").open("a")
    _print_banner(args, kind, broker_url, credentials, fleet, factory_key, control_port, logs)
    stop = {"now": False}

    def request_stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        next_maintenance = time.monotonic()
        while not stop["now"]:
            if time.monotonic() >= next_maintenance:
                # The scheduled jobs a production install runs from cron; each is safe to run any number of times.
                for job in SCHEDULED_JOBS:
                    if job in app.cli.list_commands(None):
                        subprocess.Popen([python, "-m", "flask", job], env=env, stdout=maintenance_log, stderr=subprocess.STDOUT)
                next_maintenance = time.monotonic() + MAINTENANCE_EVERY_S
            for name, process in children:
                if process.poll() is not None:
                    print(f"{name} stopped (exit {process.returncode}); see {logs / (name + '.log')}", file=sys.stderr)
                    stop["now"] = True
            time.sleep(0.5)
    finally:
        for _, process in children:
            if process.poll() is None:
                process.terminate()
        for _, process in children:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
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
            f"  Demo fleet: {len(fleet)} simulated devices; lab control API at http://127.0.0.1:{control_port}",
            "  Claim one from the dashboard with its serial and the code on its display:",
            *[f"    {d.model:<14} {d.serial}   code {claim_code(factory_key, d.serial)}" for d in fleet[:5]],
        ]
    lines += [f"  Sent mail: the Lab › Outbox page.   Logs: {logs}", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
