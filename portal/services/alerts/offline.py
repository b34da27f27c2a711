"""Offline alerts, debounced: a device is "offline" for alerting only after a grace period of silence.

The ingest worker records what the broker says (``online`` / ``lost`` on the state topic) and when it
last heard from each device. Alerting is decided here, by a worker pass over ``device_status``:

* a device whose state is ``lost`` for longer than the grace period, or from which nothing arrived for
  longer than the grace period, is offline: one ``device_offline`` alert for the incident;
* a device whose incident was alerted and that reports again gets one ``device_online`` alert, and the
  incident is closed;
* a firmware upgrade or self-test a user started holds the device in maintenance: no offline alert while
  it runs (the device reboots or drops its link on purpose); a maintenance window mutes as for any alert.

A broker restart shorter than the grace period therefore sends nothing. The incident is claimed with one
conditional UPDATE (``offline_alerted_at IS NULL``), so two workers never alert the same incident twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, false, or_, select, update

from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus
from portal.services.alerts.device_alerts import raise_device_alert
from portal.services.alerts.maintenance import in_maintenance
from portal.services.clock import clock

DEFAULT_GRACE_S = 300
# A user-started command that takes the device's link down on purpose, and how long it may hold the device.
HOLDING_COMMANDS = {
    "firmware.upgrade": timedelta(minutes=30),
    "test.battery.start": timedelta(minutes=5),
}
ACTIVE_COMMAND_STATUSES = ("queued", "sent", "accepted", "progress")


@dataclass
class OfflinePass:
    """What one pass did."""

    offline: int = 0  # incidents alerted
    back_online: int = 0  # incidents closed with a recovery alert
    held: int = 0  # offline past the grace period but held by a user's firmware upgrade or self-test


def offline_cutoff(grace_s: float) -> datetime:
    """Lost or silent since before this: past the grace period, lab clock moves not counted."""
    return clock().retention_cutoff(timedelta(seconds=grace_s))


def held_by_user_command(device_id: int, now: datetime) -> bool:
    """True while a firmware upgrade or self-test a user started is running (or just ended) on the device."""
    longest = max(HOLDING_COMMANDS.values())
    commands = db.session.scalars(
        select(DeviceCommand).where(
            DeviceCommand.device_id == device_id,
            DeviceCommand.type.in_(HOLDING_COMMANDS),
            DeviceCommand.issued_by_user_id.is_not(None),
            DeviceCommand.issued_at >= now - longest,
        )
    )
    return any(
        command.issued_at >= now - HOLDING_COMMANDS[command.type]
        or command.status in ACTIVE_COMMAND_STATUSES
        for command in commands
    )


def evaluate_offline(now: datetime, cutoff: datetime, *, heard_since: datetime | None = None) -> OfflinePass:
    """One pass: raise the offline alerts that are due and the recoveries; the caller commits.

    ``cutoff`` is the time before which a device has been lost or silent for the grace period
    (``clock().retention_cutoff(grace)``: a lab clock move counts as no time lived). ``heard_since`` is
    when the caller started listening: silence before it says nothing (the worker was down).
    """
    result = OfflinePass()
    silent = DeviceStatus.last_seen_at <= cutoff
    if heard_since is not None and heard_since > cutoff:
        silent = false()  # not listening long enough to call anyone silent
    due = db.session.execute(
        select(DeviceStatus.device_id)
        .join(Device, Device.id == DeviceStatus.device_id)
        .where(
            Device.owner_company_id.is_not(None),
            DeviceStatus.offline_alerted_at.is_(None),
            or_(and_(DeviceStatus.online.is_(False), DeviceStatus.state_changed_at <= cutoff), silent),
        )
    ).scalars().all()
    for device_id in due:
        if held_by_user_command(device_id, now) or in_maintenance(device_id, now):
            result.held += 1
            continue
        claimed = db.session.execute(
            update(DeviceStatus)
            .where(DeviceStatus.device_id == device_id, DeviceStatus.offline_alerted_at.is_(None))
            .values(offline_alerted_at=now)
        ).rowcount
        if not claimed:
            continue  # another worker took this incident
        device = db.session.get(Device, device_id)
        status = db.session.get(DeviceStatus, device_id)
        since = _offline_since(status)
        minutes = max(1, round((now - since).total_seconds() / 60)) if since else 1
        reason = "its connection was lost" if not status.online else "nothing arrived from it"
        text = f"The device has not reported to upsconnect for {minutes} min ({reason})."
        raise_device_alert(device, "device_offline", "critical", text, ts=since or now, now=now, today=now.date())
        result.offline += 1

    back = db.session.execute(
        select(DeviceStatus.device_id).where(
            DeviceStatus.offline_alerted_at.is_not(None),
            DeviceStatus.online.is_(True),
            DeviceStatus.last_seen_at > DeviceStatus.offline_alerted_at,
        )
    ).scalars().all()
    for device_id in back:
        status = db.session.get(DeviceStatus, device_id)
        alerted_at = status.offline_alerted_at
        closed = db.session.execute(
            update(DeviceStatus)
            .where(DeviceStatus.device_id == device_id, DeviceStatus.offline_alerted_at == alerted_at)
            .values(offline_alerted_at=None)
        ).rowcount
        if not closed:
            continue
        device = db.session.get(Device, device_id)
        text = "The device is reporting to upsconnect again."
        raise_device_alert(
            device, "device_online", "informational", text, ts=status.last_seen_at or now, now=now, today=now.date()
        )
        result.back_online += 1
    return result


def _offline_since(status: DeviceStatus) -> datetime | None:
    if not status.online and status.state_changed_at is not None:
        return status.state_changed_at
    return status.last_seen_at
