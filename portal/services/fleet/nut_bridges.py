"""NUT bridges: create one with a one-time enrolment token, enrol the agent, register and claim its UPSes.

Rules (docs/nut.md): a token is shown once, stored as SHA-256, valid for ENROLMENT_VALID and used
once; the agent then authenticates with its own secret (also stored hashed). A bridge registers only
UPSes no SmartConnect device and no other bridge already reports, so it can never speak for
someone else's device. A bridged UPS is claimed with one click by the bridge's own company, with no
registration code and no trial: its plan is whatever license is assigned to it (Basic without one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from devicelink.contract import NUT_NAME_RE, CommandType, is_valid_serial
from devicelink.nut_mapping import offered_commands
from devicelink.provisioning import device_password
from portal.extensions import db
from portal.models import Device, NutBridge, User
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound

ENROLMENT_VALID = timedelta(hours=24)
MAX_DEVICES_PER_REPORT = 64
MAX_COMMANDS = 128
NOT_FOUND = "This bridge or UPS does not exist, or it is not yours."
TOKEN_REFUSED = ("This enrolment token is not valid: it was mistyped, already used, or has expired. "
                 "Create a new bridge on the Bridges page to get a new one.")


class BridgeError(DomainError):
    """A bridge rule refused: a missing name, a bad token, a UPS that cannot be registered."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewBridge:
    bridge: NutBridge
    token: str  # shown once, never stored


def create_bridge(user: User, name: str, site: str, *, now: datetime) -> NewBridge:
    """A bridge of the user's company, waiting for its agent to enrol with the returned token."""
    name, site = " ".join((name or "").split()), " ".join((site or "").split())
    if not name:
        raise BridgeError("Give the bridge a name, such as the server it runs on.", field="name")
    if len(name) > 80:
        raise BridgeError("The name can have at most 80 characters.", field="name")
    if len(site) > 120:
        raise BridgeError("The site can have at most 120 characters.", field="site")
    token = "nbe_" + secrets.token_urlsafe(24)
    bridge = NutBridge(
        company_id=user.company_id, name=name, site=site, public_id=secrets.token_hex(8), created_at=now,
        created_by_user_id=user.id, enrolment_token_hash=_digest(token), enrolment_expires_at=now + ENROLMENT_VALID,
    )
    db.session.add(bridge)
    db.session.flush()
    return NewBridge(bridge, token)


def bridges_of(user: User) -> list[NutBridge]:
    return list(db.session.scalars(select(NutBridge).where(NutBridge.company_id == user.company_id).order_by(NutBridge.id)))


@dataclass
class BridgeRow:
    bridge: NutBridge
    waiting: list[Device] = field(default_factory=list)  # reported, not claimed yet
    claimed: list[Device] = field(default_factory=list)


def bridges_page(user: User) -> list[BridgeRow]:
    """The company's bridges with the UPSes each one reports (claimed by the company or waiting)."""
    rows = {bridge.id: BridgeRow(bridge) for bridge in bridges_of(user)}
    if rows:
        devices = db.session.scalars(select(Device).where(Device.bridge_id.in_(rows)).order_by(Device.serial))
        for device in devices:
            row = rows[device.bridge_id]
            if device.owner_company_id is None:
                row.waiting.append(device)
            elif device.owner_company_id == user.company_id:
                row.claimed.append(device)
    return list(rows.values())


def enrol(token: str, *, now: datetime) -> tuple[NutBridge, str]:
    """Exchange a valid enrolment token for the bridge's own secret (returned once)."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise BridgeError(TOKEN_REFUSED)
    bridge = db.session.scalar(select(NutBridge).where(NutBridge.enrolment_token_hash == _digest(token)))
    if bridge is None or bridge.enrolment_expires_at is None or bridge.enrolment_expires_at < now:
        raise BridgeError(TOKEN_REFUSED)
    secret = "nbs_" + secrets.token_urlsafe(32)
    bridge.enrolment_token_hash = None
    bridge.enrolment_expires_at = None
    bridge.secret_hash = _digest(secret)
    bridge.enrolled_at = now
    db.session.flush()
    return bridge, secret


def bridge_for_secret(secret: str | None) -> NutBridge | None:
    """The enrolled bridge this secret belongs to, else None."""
    if not secret or len(secret) > 200:
        return None
    bridge = db.session.scalar(select(NutBridge).where(NutBridge.secret_hash == _digest(secret)))
    if bridge is None or not hmac.compare_digest(bridge.secret_hash or "", _digest(secret)):
        return None
    return bridge


def _short_text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or len(value) > limit or any(ord(ch) < 32 for ch in value):
        return None
    return value


def _check_item(item: Any) -> tuple[str, str | None]:
    """(serial or a placeholder, None) when the reported UPS is well formed, else (serial, reason)."""
    if not isinstance(item, dict):
        return "?", "each device must be an object"
    serial = item.get("serial")
    if not is_valid_serial(serial):
        return str(serial)[:40], "serial must be 6-20 uppercase letters and digits"
    if not _short_text(item.get("model"), 40):
        return serial, "model must be a text of at most 40 characters"
    if _short_text(item.get("ups_name", ""), 80) is None or _short_text(item.get("server", ""), 120) is None:
        return serial, "ups_name and server must be short texts"
    commands = item.get("commands", [])
    if not isinstance(commands, list) or len(commands) > MAX_COMMANDS or not all(
        isinstance(c, str) and len(c) <= 64 and NUT_NAME_RE.fullmatch(c) for c in commands
    ):
        return serial, f"commands must be a list of at most {MAX_COMMANDS} NUT names"
    return serial, None


def register_devices(bridge: NutBridge, items: Any, *, factory_key: bytes, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """Record the UPSes a bridge reports; returns (serial -> MQTT password, serial -> why refused)."""
    if not isinstance(items, list) or not items or len(items) > MAX_DEVICES_PER_REPORT:
        raise BridgeError(f"devices must be a list of 1 to {MAX_DEVICES_PER_REPORT} UPSes")
    credentials: dict[str, str] = {}
    refused: dict[str, str] = {}
    for item in items:
        serial, problem = _check_item(item)
        if problem:
            refused[serial] = problem
            continue
        device = db.session.scalar(select(Device).where(Device.serial == serial))
        if device is None:
            device = Device(serial=serial, model=item["model"], first_seen_at=now, owner_company_id=None, bridge_id=bridge.id)
            db.session.add(device)
        elif device.bridge_id != bridge.id:
            # A SmartConnect device reports on its own; another bridge's UPS is someone else's: never take either over.
            refused[serial] = "this serial is already reported by another device or bridge"
            continue
        device.nut_ups = f"{item.get('ups_name', '')}@{item.get('server', '')}"[:200]
        device.nut_commands = sorted(set(item.get("commands", [])))
        credentials[serial] = device_password(factory_key, serial)
    bridge.last_report_at = now
    db.session.flush()
    return credentials, refused


def claim_bridged_device(user: User, bridge_id: int, device_id: int, *, now: datetime) -> Device:
    """One-click claim of a UPS the company's own bridge reports; no code, no trial."""
    bridge = access.company_row(user, NutBridge, bridge_id, message=NOT_FOUND)
    device = db.session.get(Device, device_id)
    if device is None or device.bridge_id != bridge.id:
        raise NotFound(NOT_FOUND)
    if device.owner_company_id == user.company_id:
        raise BridgeError(f"{device.serial} is already registered to your company.")
    if device.owner_company_id is not None:
        raise NotFound(NOT_FOUND)
    device.owner_company_id = user.company_id
    device.claimed_at = now
    db.session.flush()
    return device


def bridged_serials() -> set[str]:
    """Every serial some NUT bridge registered (the lab stack gives each a Mosquitto login)."""
    return set(db.session.scalars(select(Device.serial).where(Device.bridge_id.is_not(None))))


def unsupported_commands(device: Device) -> dict[str, str]:
    """For a bridged UPS: command type -> why its driver cannot run it (from LIST CMD / LIST RW)."""
    if device.bridge_id is None:
        return {}
    offered = offered_commands(device.nut_commands or [], list(device.outlet_groups or []))
    reasons = {command.value: "This UPS's NUT driver does not offer it." for command in CommandType if command not in offered}
    reasons[CommandType.FIRMWARE_UPGRADE.value] = "Firmware of a UPS behind a NUT bridge is not upgraded from the portal."
    return reasons
