"""Whether this portal process can do its work: its database answers and its message broker accepts
connections. Read by ``/healthz``; says nothing secret (no URL, no user name, no error text)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from devicelink.brokers import BrokerError, parse_mqtt_url
from portal.extensions import db

BROKER_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Health:
    database: str  # ok | unreachable
    broker: str  # ok | unreachable | not configured

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and self.broker != "unreachable"

    def as_json(self) -> dict:
        return {"status": "ok" if self.healthy else "unavailable", "database": self.database, "broker": self.broker}


def database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure means the same to a load balancer: not ready
        db.session.rollback()
        return "unreachable"
    finally:
        db.session.rollback()  # end the read: a health probe holds no transaction
    return "ok"


def broker_state() -> str:
    url = current_app.config.get("MQTT_URL")
    if not url:
        return "not configured"
    try:
        endpoint = parse_mqtt_url(url)
        with socket.create_connection((endpoint.host, endpoint.port), timeout=BROKER_TIMEOUT_S):
            return "ok"
    except (OSError, BrokerError):
        return "unreachable"


def check() -> Health:
    return Health(database=database_state(), broker=broker_state())
