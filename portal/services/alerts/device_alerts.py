"""Raising a device's alerts: from newly stored events or a threshold crossed (offline: alerts/offline.py).

The ingest worker hands over what a batch changed; this decides whether it alerts (the device's plan,
maintenance windows), who started it, and fans it out, all in the worker's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, Device, DeviceCommand, DeviceEvent, NotificationDelivery
from portal.services.alerts.channels import Alert, public_url
from portal.services.alerts.event_types import alert_label, event_type_for
from portal.services.alerts.fan_out import fan_out
from portal.services.alerts.maintenance import in_maintenance
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, plan_allows

# Commands whose own events are marked "started by <user>".
USER_STARTED_COMMANDS = ("test.battery.start", "calibrate.start")
STARTED_WINDOW = timedelta(minutes=30)  # a runtime calibration runs the battery down: it takes a while
SELF_TEST_WINDOW = timedelta(minutes=3)


def alerts_allowed(device: Device, today: date) -> bool:
    """Basic-plan devices send no event alerts."""
    return device.owner_company_id is not None and plan_allows(
        entitlements.current_plan(device, today), Feature.EMAIL_ALERTS
    )


def device_alert(
    device: Device,
    event_type: str,
    severity: str,
    text: str,
    ts: datetime,
    *,
    code: str = "",
    started_by: str = "",
    details=None,
) -> Alert:
    """The alert about one device, in the words every channel uses."""
    company = db.session.get(Company, device.owner_company_id) if device.owner_company_id else None
    label = alert_label(event_type, details)
    return Alert(
        event_type=event_type,
        event_label=label,
        severity=severity,
        title=f"{label} · {device.display_name}",
        text=text,
        ts=ts,
        company_name=company.name if company else "",
        device_id=device.id,
        device_name=device.display_name,
        serial=device.serial,
        model=device.model,
        site=device.site,
        started_by=started_by,
        link=public_url(f"/devices/{device.id}"),
        code=code,
        details=details or {},
    )


def raise_device_alert(
    device: Device,
    event_type: str,
    severity: str,
    text: str,
    *,
    ts: datetime,
    now: datetime,
    today: date,
    code: str = "",
    started_by: str = "",
    event_id: int | None = None,
    details=None,
) -> list[NotificationDelivery]:
    """Fan an event of a device out to its owner's policies, unless its plan or a maintenance window says no."""
    if device.owner_company_id is None or not alerts_allowed(device, today) or in_maintenance(device.id, now):
        return []
    chat = plan_allows(entitlements.current_plan(device, today), Feature.CHAT_ROUTING)
    alert = device_alert(
        device, event_type, severity, text, ts, code=code, started_by=started_by, details=details
    )
    return fan_out(device.owner_company_id, alert, now=now, chat_allowed=chat, event_id=event_id)


def _started_by(event: DeviceEvent) -> str:
    """The user whose self-test or calibration caused the event; marks the event when inferred."""
    command = None
    if event.caused_by_command_id:
        command = db.session.get(DeviceCommand, event.caused_by_command_id)
    else:
        lowered = event.text.lower()
        if (
            "self-test" not in lowered
            and "calibration" not in lowered
            and event.code not in ("0x0109", "0x010A")
        ):
            return ""
        command = db.session.scalar(
            select(DeviceCommand)
            .where(
                DeviceCommand.device_id == event.device_id,
                DeviceCommand.type.in_(USER_STARTED_COMMANDS),
                DeviceCommand.issued_at <= event.ts + timedelta(minutes=1),
                DeviceCommand.issued_at >= event.ts - STARTED_WINDOW,
                DeviceCommand.issued_by_user_id.is_not(None),
            )
            .order_by(DeviceCommand.issued_at.desc())
            .limit(1)
        )
        if (
            command is not None
            and command.type.startswith("test")
            and event.ts - command.issued_at > SELF_TEST_WINDOW
        ):
            command = None  # a self-test is over in seconds: a later outage is not the user's doing
        if command is not None:
            event.caused_by_command_id = command.id
    if command is None or command.issued_by is None:
        return ""
    kind = "calibration" if command.type.startswith("calibrate") else "self-test"
    return f"{command.issued_by.name} ({kind})"


def alert_for_events(event_ids: Iterable[int], *, now: datetime, today: date) -> int:
    """Alerts for newly stored events (ids from the telemetry store); returns deliveries queued."""
    ids = list(event_ids)
    if not ids:
        return 0
    queued = 0
    for event in db.session.scalars(select(DeviceEvent).where(DeviceEvent.id.in_(ids)).order_by(DeviceEvent.id)):
        event_type = event_type_for(event.code, event.text)
        if event_type is None:
            continue
        device = db.session.get(Device, event.device_id)
        if device is None:
            continue
        started = _started_by(event)
        queued += len(
            raise_device_alert(
                device,
                event_type,
                event.severity,
                event.text,
                ts=event.ts,
                now=now,
                today=today,
                code=event.code,
                started_by=started,
                event_id=event.id,
            )
        )
    return queued
