"""Remote commands: gated by plan, sent over the device link, followed through their results."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from devicelink.contract import CommandType, command_payload, validate_command_args
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus, User
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound
from portal.services.fleet import nut_bridges
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, Plan, why_not

# Which plan feature each command needs; the plan table says which plan has it.
FEATURE_FOR_COMMAND: dict[CommandType, Feature] = {
    CommandType.FIRMWARE_UPGRADE: Feature.REMOTE_FIRMWARE,
    CommandType.INPUT_SENSITIVITY: Feature.INPUT_SENSITIVITY,
    CommandType.TEST_BATTERY_START: Feature.SELF_TEST,
    CommandType.CALIBRATE_START: Feature.SELF_TEST,
    CommandType.OUTLET_GROUP_OFF: Feature.OUTLET_REBOOT,
    CommandType.OUTLET_GROUP_ON: Feature.OUTLET_REBOOT,
    CommandType.OUTLET_GROUP_CYCLE: Feature.OUTLET_REBOOT,
}
OPEN_STATUSES = ("sent", "accepted", "progress")
# Firmware installs take minutes; everything else answers in seconds.
TIMEOUTS = {CommandType.FIRMWARE_UPGRADE: timedelta(minutes=15)}
DEFAULT_TIMEOUT = timedelta(minutes=2)

Publish = Callable[[str, dict], None]  # (serial, payload) -> None; raises OSError when the broker is unreachable


class CommandError(DomainError):
    """A command was refused before it was sent."""


def command_allowed(plan: Plan, command: CommandType) -> str | None:
    """None when the plan allows the command, else the reason to show."""
    return why_not(plan, FEATURE_FOR_COMMAND[command])


def refusal(device: Device, command: CommandType, args: dict, today: date) -> str | None:
    """Why this command would not be sent to this device now, or None: the one check that sending and
    a bulk preview both run (the caller has checked the user may act on the device)."""
    # A bridged UPS's driver may not offer it at all (no license changes that): said before the plan.
    reason = nut_bridges.unsupported_commands(device).get(command.value)
    reason = reason or command_allowed(entitlements.current_plan(device, today), command)
    if reason:
        return reason
    problem = validate_command_args(command, args)
    if problem:
        return f"The command's settings are not valid: {problem}."
    status = db.session.get(DeviceStatus, device.id)
    if status is None or not status.online:
        # Refused rather than queued: an outlet reboot hours later, when nobody expects it, is worse.
        return "The device is offline, so the command was not sent. Try again when it is back on line."
    return None


def issue_command(
    user: User,
    device: Device,
    command_type: str,
    args: dict,
    *,
    publish: Publish,
    today: date,
    now: datetime,
) -> DeviceCommand:
    """Send a command to a connected device the user may act on, if its plan allows it."""
    if not access.may_act_on(user, device):
        raise NotFound(access.NOT_FOUND)
    try:
        command = CommandType(command_type)
    except ValueError:
        raise CommandError(f"Unknown command {command_type!r}.") from None
    reason = refusal(device, command, args, today)
    if reason:
        raise CommandError(reason)
    row = DeviceCommand(
        id=str(uuid.uuid4()), device_id=device.id, type=command.value, args=args, issued_by_user_id=user.id, issued_at=now,
        status="sent", progress_percent=0, message="Sent to the device.", updated_at=now,
    )
    payload = command_payload(command, args, issued_at=now.timestamp(), command_id=row.id)
    try:
        publish(device.serial, payload)
    except OSError as error:
        row.status, row.message = "failed", f"Could not reach the message broker: {error}"
    db.session.add(row)
    db.session.flush()
    return row


def expire_overdue(now: datetime, device_id: int | None = None) -> int:
    """Mark commands the device never finished as timed out; returns how many."""
    count = 0
    for command_type in CommandType:
        deadline = now - TIMEOUTS.get(command_type, DEFAULT_TIMEOUT)
        query = update(DeviceCommand).where(
            DeviceCommand.type == command_type.value,
            DeviceCommand.status.in_(OPEN_STATUSES),
            DeviceCommand.updated_at < deadline,
        )
        if device_id is not None:
            query = query.where(DeviceCommand.device_id == device_id)
        result = db.session.execute(
            query.values(status="timed_out", message="The device did not answer in time.", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        count += result.rowcount or 0
    return count


def command_log(device: Device, limit: int = 20) -> list[DeviceCommand]:
    return list(
        db.session.scalars(
            select(DeviceCommand).where(DeviceCommand.device_id == device.id).order_by(DeviceCommand.issued_at.desc()).limit(limit)
        )
    )


COMMAND_NOT_FOUND = "No such command for this device."


def command_of(device: Device, command_id: str) -> DeviceCommand:
    """One command of a device (the caller has checked the user may act on the device); NotFound otherwise."""
    row = db.session.get(DeviceCommand, command_id) if 0 < len(command_id) <= 36 else None
    if row is None or row.device_id != device.id:
        raise NotFound(COMMAND_NOT_FOUND)
    return row
