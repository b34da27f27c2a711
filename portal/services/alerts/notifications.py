"""Notification policies, which events raise alerts, and the fan-out of an alert into deliveries.

Deliveries are rows of the outbox (``NotificationDelivery``), added in the caller's transaction: the
request or the ingest flush never waits on SMTP or HTTP. ``deliver_due`` (run by ``flask notify``)
sends them and retries with exponential backoff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import (
    Company,
    Device,
    DeviceCommand,
    DeviceEvent,
    MaintenanceWindow,
    NotificationDelivery,
    NotificationPolicy,
    NotificationUnsubscribe,
    User,
)
from portal.services.alerts.channels import (
    Alert,
    DeliveryError,
    email_content,
    payload_for,
    send,
    valid_webhook_url,
)
from portal.services.errors import DomainError, NotFound
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, plan_allows

# ---------------------------------------------------------------- what can raise an alert (data)

EVENT_TYPES: dict[str, str] = {
    "on_battery": "On battery",
    "low_battery": "Low battery",
    "replace_battery": "Replace battery",
    "overload": "Overload",
    "self_test_failed": "Self-test failed",
    "device_offline": "Device offline",
    "firmware_available": "Firmware available",
    "threshold_load": "Load above limit",
    "threshold_runtime": "Runtime below limit",
    "threshold_voltage": "Input voltage outside band",
    "trial_ending": "Trial ending",
    "renewal_due": "Renewal due",
}
SEVERITIES = ("critical", "warning", "informational")
# APC event codes -> event type.
EVENT_CODES: dict[str, str] = {
    "0x0109": "on_battery",
    "0x010F": "low_battery",
    "0x0107": "low_battery",  # discharged battery
    "0x0119": "replace_battery",
    "0x0103": "overload",
}
# Events without a code are recognised by APC's wording (lower-cased substring -> event type).
EVENT_TEXTS: tuple[tuple[str, str], ...] = (
    ("self-test failed", "self_test_failed"),
    ("firmware update is available", "firmware_available"),
    ("new firmware", "firmware_available"),
)
# NUT ups.status tokens -> event type (for telemetry-only devices and the docs).
STATUS_TOKENS: dict[str, str] = {
    "OB": "on_battery",
    "LB": "low_battery",
    "RB": "replace_battery",
    "OVER": "overload",
}
# Commands whose own events are marked "started by <user>".
USER_STARTED_COMMANDS = ("test.battery.start", "calibrate.start")
STARTED_WINDOW = timedelta(minutes=30)  # a runtime calibration runs the battery down: it takes a while
SELF_TEST_WINDOW = timedelta(minutes=3)

DEFAULT_EVENT_TYPES = [k for k in EVENT_TYPES if not k.startswith("threshold_")]
DEFAULT_SEVERITIES = ["critical", "warning"]
DEFAULT_POLICY_NAME = "Email the account owner"
MAX_RECIPIENTS = 20
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 30
LEASE = timedelta(minutes=2)
POLICY_NOT_FOUND = "No such notification policy in your account."
DELIVERY_NOT_FOUND = "No such delivery in your account."
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
UNSUBSCRIBE_SALT = "upsconnect.unsubscribe"


class NotificationError(DomainError):
    """A notification rule refused."""


def event_type_for(code: str, text: str) -> str | None:
    """The alert type an APC event maps to, or None when it raises no alert."""
    mapped = EVENT_CODES.get((code or "").strip().upper().replace("0X", "0x"))
    if mapped:
        return mapped
    lowered = (text or "").lower()
    for fragment, event_type in EVENT_TEXTS:
        if fragment in lowered:
            return event_type
    return None


# ---------------------------------------------------------------- policies


@dataclass(frozen=True)
class PolicyInput:
    name: str
    description: str
    event_types: list[str]
    severities: list[str]
    email_recipients: str  # as typed: commas, semicolons or new lines
    slack_webhook_url: str = ""
    teams_webhook_url: str = ""
    webhook_url: str = ""
    enabled: bool = True


def _owner(company_id: int) -> User | None:
    users = db.session.scalars(select(User).where(User.company_id == company_id).order_by(User.id)).all()
    admins = [u for u in users if u.is_admin]
    return (admins or users or [None])[0]


def ensure_default_policy(company_id: int, now: datetime) -> None:
    """A company that has no policy yet gets the default one: email the account owner."""
    exists = db.session.scalar(
        select(NotificationPolicy.id).where(NotificationPolicy.company_id == company_id).limit(1)
    )
    if exists is not None:
        return
    owner = _owner(company_id)
    db.session.add(
        NotificationPolicy(
            company_id=company_id,
            name=DEFAULT_POLICY_NAME,
            description="Critical and warning events of every device, emailed to the account owner.",
            event_types=list(DEFAULT_EVENT_TYPES),
            severities=list(DEFAULT_SEVERITIES),
            email_recipients=[owner.email] if owner else [],
            is_default=True,
            created_at=now,
            updated_at=now,
        )
    )
    db.session.flush()


def policies(user: User, now: datetime) -> list[NotificationPolicy]:
    ensure_default_policy(user.company_id, now)
    return list(
        db.session.scalars(
            select(NotificationPolicy)
            .where(NotificationPolicy.company_id == user.company_id)
            .order_by(NotificationPolicy.is_default.desc(), NotificationPolicy.name, NotificationPolicy.id)
        )
    )


def policy_for(user: User, policy_id: int) -> NotificationPolicy:
    policy = db.session.get(NotificationPolicy, policy_id)
    if policy is None or policy.company_id != user.company_id:
        raise NotFound(POLICY_NOT_FOUND)
    return policy


def _clean(data: PolicyInput) -> dict:
    name = data.name.strip()
    if not name:
        raise NotificationError("Give the policy a name.", "name")
    if len(name) > 120:
        raise NotificationError("Keep the name under 120 characters.", "name")
    types = [t for t in data.event_types if t in EVENT_TYPES]
    if not types:
        raise NotificationError("Choose at least one event.", "event_types")
    severities = [s for s in SEVERITIES if s in data.severities]
    if not severities:
        raise NotificationError("Choose at least one severity.", "severities")
    recipients: list[str] = []
    for part in re.split(r"[,;\s]+", data.email_recipients or ""):
        address = part.strip().lower()
        if not address:
            continue
        if not _EMAIL.match(address) or len(address) > 254:
            raise NotificationError(f"“{part.strip()}” is not a valid email address.", "email_recipients")
        if address not in recipients:
            recipients.append(address)
    if len(recipients) > MAX_RECIPIENTS:
        raise NotificationError(f"At most {MAX_RECIPIENTS} email recipients per policy.", "email_recipients")
    urls = {}
    for field_name in ("slack_webhook_url", "teams_webhook_url", "webhook_url"):
        url = getattr(data, field_name).strip()
        if url and not valid_webhook_url(url):
            raise NotificationError("A webhook address must start with http:// or https://.", field_name)
        urls[field_name] = url
    if not recipients and not any(urls.values()):
        raise NotificationError("Add at least one email recipient or webhook.", "email_recipients")
    return {
        "name": name,
        "description": data.description.strip()[:500],
        "event_types": types,
        "severities": severities,
        "email_recipients": recipients,
        "enabled": data.enabled,
        **urls,
    }


def create_policy(user: User, data: PolicyInput, *, now: datetime) -> NotificationPolicy:
    values = _clean(data)
    # The owner's default policy comes first, so adding a Slack route never silences the emails.
    ensure_default_policy(user.company_id, now)
    policy = NotificationPolicy(company_id=user.company_id, created_at=now, updated_at=now, **values)
    db.session.add(policy)
    db.session.flush()
    return policy


def update_policy(user: User, policy_id: int, data: PolicyInput, *, now: datetime) -> NotificationPolicy:
    policy = policy_for(user, policy_id)
    for key, value in _clean(data).items():
        setattr(policy, key, value)
    policy.updated_at = now
    db.session.flush()
    return policy


def delete_policy(user: User, policy_id: int) -> NotificationPolicy:
    policy = policy_for(user, policy_id)
    if policy.is_default:
        raise NotificationError("The default policy cannot be deleted; turn it off instead.")
    db.session.execute(
        update(NotificationDelivery).where(NotificationDelivery.policy_id == policy.id).values(policy_id=None)
    )
    db.session.delete(policy)
    db.session.flush()
    return policy


# ---------------------------------------------------------------- unsubscribe


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(email: str, company_id: int, scope: str) -> str:
    return _serializer().dumps({"e": email.lower(), "c": company_id, "s": scope})


def read_unsubscribe_token(token: str) -> tuple[str, int, str]:
    """(email, company id, scope) of a token the portal signed; NotFound for anything else."""
    try:
        data = _serializer().loads(token)
        return str(data["e"]), int(data["c"]), str(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("This unsubscribe link is not valid.") from None


def unsubscribe_url(email: str, company_id: int, scope: str) -> str:
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(email, company_id, scope)}"


def scope_label(company_id: int, scope: str) -> str:
    if scope.startswith("policy:"):
        policy = db.session.get(NotificationPolicy, int(scope.split(":", 1)[1]))
        return (
            f"alerts of the policy “{policy.name}”" if policy else "alerts of a policy that no longer exists"
        )
    return {"renewals": "renewal notices", "reseller": "Renewal Support lifecycle notices"}.get(scope, scope)


def unsubscribe(token: str, *, now: datetime) -> tuple[str, str]:
    email, company_id, scope = read_unsubscribe_token(token)
    if not is_unsubscribed(company_id, scope, email):
        db.session.add(
            NotificationUnsubscribe(company_id=company_id, scope=scope, email=email, created_at=now)
        )
        db.session.flush()
    return email, scope_label(company_id, scope)


def is_unsubscribed(company_id: int, scope: str, email: str) -> bool:
    return (
        db.session.scalar(
            select(NotificationUnsubscribe.id).where(
                NotificationUnsubscribe.company_id == company_id,
                NotificationUnsubscribe.scope == scope,
                NotificationUnsubscribe.email == email.lower(),
            )
        )
        is not None
    )


# ---------------------------------------------------------------- raising alerts


def public_url(path: str) -> str:
    return current_app.config.get("PUBLIC_URL", "").rstrip("/") + path


def in_maintenance(device_id: int, at: datetime) -> bool:
    return (
        db.session.scalar(
            select(MaintenanceWindow.id)
            .where(
                MaintenanceWindow.device_id == device_id,
                MaintenanceWindow.starts_at <= at,
                MaintenanceWindow.ends_at > at,
            )
            .limit(1)
        )
        is not None
    )


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
    company = db.session.get(Company, device.owner_company_id) if device.owner_company_id else None
    label = EVENT_TYPES.get(event_type, event_type)
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


def queue(
    company_id: int,
    channel: str,
    target: str,
    subject: str,
    payload: dict,
    *,
    event_type: str,
    now: datetime,
    policy_id: int | None = None,
    device_id: int | None = None,
    event_id: int | None = None,
) -> NotificationDelivery:
    row = NotificationDelivery(
        company_id=company_id,
        policy_id=policy_id,
        device_id=device_id,
        event_id=event_id,
        event_type=event_type,
        channel=channel,
        target=target,
        subject=subject[:300],
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
    )
    db.session.add(row)
    return row


def fan_out(
    company_id: int,
    alert: Alert,
    *,
    now: datetime,
    chat_allowed: bool = True,
    event_id: int | None = None,
    extra_emails: Iterable[str] = (),
) -> list[NotificationDelivery]:
    """Deliveries for every enabled policy of the company that wants this event type and severity.

    ``extra_emails`` (renewal notices to the admins) are mailed once each, with the policies' recipients.
    """
    ensure_default_policy(company_id, now)
    rows: list[NotificationDelivery] = []
    emailed: set[str] = set()

    def email(address: str, scope: str, policy_id: int | None = None) -> None:
        """Queue one email per address per alert, unless that address unsubscribed from this scope."""
        if address in emailed or is_unsubscribed(company_id, scope, address):
            return
        emailed.add(address)
        content = email_content(alert, unsubscribe_url(address, company_id, scope))
        rows.append(
            queue(
                company_id,
                "email",
                address,
                content["subject"],
                {"text": content["text"], "html": content["html"]},
                event_type=alert.event_type,
                now=now,
                policy_id=policy_id,
                device_id=alert.device_id,
                event_id=event_id,
            )
        )

    for address in extra_emails:
        email(address.lower(), "renewals")
    matching = db.session.scalars(
        select(NotificationPolicy)
        .where(NotificationPolicy.company_id == company_id, NotificationPolicy.enabled.is_(True))
        .order_by(NotificationPolicy.id)
    )
    for policy in matching:
        if alert.event_type not in policy.event_types or alert.severity not in policy.severities:
            continue
        for address in policy.email_recipients:
            email(address, f"policy:{policy.id}", policy.id)
        if not chat_allowed:
            continue
        for channel, url in (
            ("slack", policy.slack_webhook_url),
            ("teams", policy.teams_webhook_url),
            ("webhook", policy.webhook_url),
        ):
            if url:
                rows.append(
                    queue(
                        company_id,
                        channel,
                        url,
                        alert.title,
                        payload_for(channel, alert),
                        event_type=alert.event_type,
                        now=now,
                        policy_id=policy.id,
                        device_id=alert.device_id,
                        event_id=event_id,
                    )
                )
    db.session.flush()
    return rows


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
    """Called in the ingest flush with the ids of newly stored events; returns deliveries queued."""
    queued = 0
    for event in db.session.scalars(
        select(DeviceEvent).where(DeviceEvent.id.in_(list(event_ids))).order_by(DeviceEvent.id)
    ):
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


def alert_state_change(device_id: int, online: bool, *, now: datetime, today: date) -> int:
    """The device's connection was lost: a device_offline alert."""
    if online:
        return 0
    device = db.session.get(Device, device_id)
    if device is None:
        return 0
    text = "The device stopped reporting to upsconnect (connection lost)."
    return len(raise_device_alert(device, "device_offline", "critical", text, ts=now, now=now, today=today))


# ---------------------------------------------------------------- the delivery log


def deliveries(user: User, *, limit: int = 50, status: str | None = None) -> list[NotificationDelivery]:
    query = select(NotificationDelivery).where(NotificationDelivery.company_id == user.company_id)
    if status in ("pending", "sent", "failed"):
        query = query.where(NotificationDelivery.status == status)
    return list(db.session.scalars(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


def resend(user: User, delivery_id: int, *, now: datetime) -> NotificationDelivery:
    """A new delivery of the same message; the old row stays in the log as it was."""
    old = db.session.get(NotificationDelivery, delivery_id)
    if old is None or old.company_id != user.company_id:
        raise NotFound(DELIVERY_NOT_FOUND)
    if old.channel == "email":
        scope = f"policy:{old.policy_id}" if old.policy_id else "renewals"
        if is_unsubscribed(old.company_id, scope, old.target):
            raise NotificationError(f"{old.target} unsubscribed from these emails, so it was not sent again.")
    row = queue(
        old.company_id,
        old.channel,
        old.target,
        old.subject,
        old.payload,
        event_type=old.event_type,
        now=now,
        policy_id=old.policy_id,
        device_id=old.device_id,
        event_id=old.event_id,
    )
    row.resent_from_id = old.id
    db.session.flush()
    return row


# ---------------------------------------------------------------- delivering (the worker)


def backoff(attempts: int, base_s: float) -> timedelta:
    """30 s, 60 s, 120 s, 240 s... after the 1st, 2nd, 3rd, 4th failed attempt."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


def _claim(row_id: int, due: datetime, now: datetime) -> bool:
    """Take a due row for this worker; another worker that took it first wins."""
    result = db.session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == row_id,
            NotificationDelivery.status == "pending",
            NotificationDelivery.next_attempt_at == due,
        )
        .values(next_attempt_at=now + LEASE)
    )
    db.session.commit()
    return result.rowcount == 1


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    now: datetime,
    *,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_base_s: float = BACKOFF_BASE_S,
) -> DeliveryStats:
    """Send due deliveries, one commit per row; failures are retried with backoff up to max_attempts."""
    stats = DeliveryStats()
    due = db.session.execute(
        select(NotificationDelivery.id, NotificationDelivery.next_attempt_at)
        .where(NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= now)
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
    ).all()
    db.session.commit()
    for row_id, due_at in due:
        if not _claim(row_id, due_at, now):
            continue
        row = db.session.get(NotificationDelivery, row_id)
        try:
            send(row.channel, row.target, row.subject, row.payload)
        except DeliveryError as error:
            row.attempts += 1
            row.last_error = error.message[:500]
            if row.attempts >= max_attempts:
                row.status, row.next_attempt_at = "failed", None
                stats.failed += 1
            else:
                row.next_attempt_at = now + backoff(row.attempts, backoff_base_s)
                stats.retried += 1
        else:
            row.attempts += 1
            row.status, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, ""
            stats.sent += 1
        db.session.commit()
    return stats


# ---------------------------------------------------------------- maintenance windows

MAX_WINDOW = timedelta(days=31)


def owned_devices(user: User) -> list[Device]:
    return list(
        db.session.scalars(
            select(Device)
            .where(Device.owner_company_id == user.company_id)
            .order_by(Device.name, Device.serial)
        )
    )


def maintenance_windows(user: User, now: datetime) -> list[MaintenanceWindow]:
    """Windows of the company's devices that have not ended yet, soonest first."""
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.company_id == user.company_id, MaintenanceWindow.ends_at > now)
            .order_by(MaintenanceWindow.starts_at)
        )
    )


def add_maintenance(
    user: User, device_id: int, starts_at: datetime, ends_at: datetime, note: str, *, now: datetime
) -> MaintenanceWindow:
    device = db.session.get(Device, device_id)
    if device is None or device.owner_company_id != user.company_id:
        raise NotFound("No such device in your account.")
    if ends_at <= starts_at:
        raise NotificationError("The window must end after it starts.", "ends_at")
    if ends_at <= now:
        raise NotificationError("This window is already over.", "ends_at")
    if ends_at - starts_at > MAX_WINDOW:
        raise NotificationError("A maintenance window lasts at most 31 days.", "ends_at")
    window = MaintenanceWindow(
        device_id=device.id,
        company_id=user.company_id,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip()[:200],
        created_by_user_id=user.id,
        created_at=now,
    )
    db.session.add(window)
    db.session.flush()
    return window


def delete_maintenance(user: User, window_id: int) -> None:
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None or window.company_id != user.company_id:
        raise NotFound("No such maintenance window in your account.")
    db.session.delete(window)
    db.session.flush()


# ---------------------------------------------------------------- Renewal Support invite email


def queue_reseller_invite(support, token: str, *, now: datetime) -> NotificationDelivery:
    from portal.services.alerts.channels import render_email

    customer = db.session.get(Company, support.customer_company_id)
    subject = f"{customer.name} invites you to Renewal Support on upsconnect"
    text = render_email(
        "email/reseller_invite.txt",
        customer=customer,
        link=public_url(f"/renewal-support/invite/{token}"),
        expires=support.expires_at.strftime("%d %b %Y"),
        unsubscribe_url=unsubscribe_url(support.reseller_email, customer.id, "reseller"),
    )
    return queue(
        customer.id,
        "email",
        support.reseller_email,
        subject,
        {"text": text},
        event_type="renewal_support_invite",
        now=now,
    )
