"""Configuration read from the environment, in one place."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "UPSCONNECT_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_secret(instance_path: Path, filename: str) -> str:
    """A random secret kept in the instance folder so restarts keep sessions and codes valid."""
    path = instance_path / filename
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def load_config(instance_path: Path) -> dict[str, Any]:
    """Every setting the portal reads, from UPSCONNECT_* environment variables with safe defaults."""
    database_url = _env("DATABASE_URL") or f"sqlite:///{instance_path / 'upsconnect.db'}"
    https = _env_bool("HTTPS", False)
    return {
        "SECRET_KEY": _env("SECRET_KEY") or _persistent_secret(instance_path, "secret_key"),
        "FACTORY_KEY": _env("FACTORY_KEY") or _persistent_secret(instance_path, "factory_key"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "LAB_MODE": _env_bool("LAB_MODE", False),
        # Session cookie: never readable by scripts, not sent on cross-site posts, Secure behind HTTPS.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "HTTPS": https,
        "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # tokens live as long as the session
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        # Prepended to every counter's key: several portals can share one Redis without sharing counts.
        "RATELIMIT_KEY_PREFIX": _env("RATELIMIT_KEY_PREFIX", ""),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        # Failed sign-ins are counted per account (so one office does not lock out its colleagues) and, with
        # a higher limit, per address (so one address cannot try many accounts quickly).
        "LOGIN_RATE_LIMIT": _env("LOGIN_RATE_LIMIT", "10 per minute"),
        "LOGIN_ADDRESS_RATE_LIMIT": _env("LOGIN_ADDRESS_RATE_LIMIT", "50 per minute"),
        "SIGNUP_RATE_LIMIT": _env("SIGNUP_RATE_LIMIT", "10 per hour"),
        # Proxies in front of the portal that set X-Forwarded-For/-Proto; 0 ignores those headers.
        "PROXY_HOPS": int(_env("PROXY_HOPS", "0") or 0),
        "CODE_RATE_LIMIT": _env("CODE_RATE_LIMIT", "20 per minute"),
        "CLAIM_RATE_LIMIT": _env("CLAIM_RATE_LIMIT", "10 per minute"),
        # Each added lab device is a new MQTT connection and model: bound how fast one user adds them.
        "LAB_ADD_RATE_LIMIT": _env("LAB_ADD_RATE_LIMIT", "20 per minute"),
        # NUT bridge agents (docs/nut.md): enrolment guesses per address; reports per address.
        "BRIDGE_ENROL_RATE_LIMIT": _env("BRIDGE_ENROL_RATE_LIMIT", "10 per minute"),
        "BRIDGE_REPORT_RATE_LIMIT": _env("BRIDGE_REPORT_RATE_LIMIT", "60 per minute"),
        # JSON API (docs/api.md): calls per personal access token (or per address without a valid one).
        "API_RATE_LIMIT": _env("API_RATE_LIMIT", "120 per minute"),
        # The broker address shown in the bridge's start command (what agents outside reach); a hint only.
        "BRIDGE_BROKER_URL": _env("BRIDGE_BROKER_URL"),
        # The address users reach the portal at: every link in an email or webhook starts with it.
        "PUBLIC_URL": _env("PUBLIC_URL", "http://127.0.0.1:5000"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),  # DEBUG | INFO | WARNING | ERROR
        "LOG_FORMAT": _env("LOG_FORMAT", "text"),  # text | json (one JSON object a line)
        # /metrics answers requests from the machine itself; with a token, any request bearing it.
        "METRICS_TOKEN": _env("METRICS_TOKEN"),
        "MAIL_SERVER": _env("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": int(_env("MAIL_PORT", "8025") or 8025),
        "MAIL_USERNAME": _env("MAIL_USERNAME"),
        "MAIL_PASSWORD": _env("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS", False),
        "MAIL_SENDER": _env("MAIL_SENDER", "upsconnect <no-reply@upsconnect.local>"),
        "MQTT_URL": _env("MQTT_URL"),  # unset: the portal starts its own broker
        "MQTT_BROKER": _env("MQTT_BROKER", "auto"),  # auto | embedded | mosquitto | url
        "MQTT_PORT": int(_env("MQTT_PORT", "0") or 0),  # 0: a free port
        "MQTT_BROKER_KIND": _env("MQTT_BROKER_KIND", ""),  # embedded | mosquitto | external, set by the lab runner
        # Lost or silent this long before a device is "offline" for alerting (a broker restart sends nothing).
        "OFFLINE_GRACE_SECONDS": float(_env("OFFLINE_GRACE_SECONDS", "300") or 300),
        # A device's timestamp may be this far before / after the message's arrival (the portal's clock);
        # the lab's simulated fleet may run many times faster than the lab clock, hence its wider default.
        "DEVICE_TS_MAX_PAST_S": float(_env("DEVICE_TS_MAX_PAST_S", str(30 * 86400)) or 0),
        "DEVICE_TS_MAX_FUTURE_S": float(
            _env("DEVICE_TS_MAX_FUTURE_S", str(10 * 365 * 86400 if _env_bool("LAB_MODE", False) else 86400)) or 0
        ),
        "STALE_AFTER_S": int(_env("STALE_AFTER_S", "300") or 300),  # silent longer than this: "stale"
        "TELEMETRY_FULL_RES_DAYS": int(_env("TELEMETRY_FULL_RES_DAYS", "7") or 7),
        "TELEMETRY_BUCKET_S": int(_env("TELEMETRY_BUCKET_S", "900") or 900),  # rollup bucket beyond the window
        # daily: telemetry_samples partitioned by day on PostgreSQL, old days dropped (docs/scaling.md);
        # unset: one table, old samples deleted row by row. Checked by the commands that use it.
        "TELEMETRY_PARTITIONS": _env("TELEMETRY_PARTITIONS", ""),
        "EVENT_RETENTION_DAYS": 30,
        # Battery health (measured from discharges) below this raises "Battery health low" once.
        "BATTERY_HEALTH_ALERT_PERCENT": float(_env("BATTERY_HEALTH_ALERT_PERCENT", "70") or 70),
        "LAB_OUTBOX_DIR": _env("LAB_OUTBOX_DIR") or str(instance_path / "lab-outbox"),
        # The simulated fleet's control API (lab mode; make run sets it): the lab console talks to it.
        "LAB_CONTROL_URL": _env("LAB_CONTROL_URL"),
    }
