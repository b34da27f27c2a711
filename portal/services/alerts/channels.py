"""What each channel receives, and the senders: email (SMTP), Slack, Microsoft Teams, a JSON webhook.

Builders are pure functions of an ``Alert``; senders take a stored delivery and raise
``DeliveryError`` with a short reason when the target did not accept it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app

from portal.services.errors import DomainError
from portal.services.outbox.mail import MailError, send_email

CHANNELS = ("email", "slack", "teams", "webhook")
WEBHOOK_SCHEMA = "upsconnect.alert/1"
HTTP_TIMEOUT_S = 10
SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_yellow_circle:",
    "informational": ":large_blue_circle:",
}
SEVERITY_TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "informational": "Accent"}


class DeliveryError(DomainError):
    """The mail server or webhook did not accept the message."""


@dataclass(frozen=True)
class Alert:
    """One thing to tell people about, in the words every channel uses."""

    event_type: str
    event_label: str
    severity: str  # critical | warning | informational
    title: str  # "On battery · SMT1500C AS2600000001"
    text: str  # APC's wording, or the notice's sentence
    ts: datetime
    company_name: str
    device_id: int | None = None
    device_name: str = ""
    serial: str = ""
    model: str = ""
    site: str = ""
    started_by: str = ""  # the user whose self-test or calibration caused it
    link: str = ""
    code: str = ""
    details: dict = field(default_factory=dict)


def valid_webhook_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username


# ---------------------------------------------------------------- builders


def render_email(name: str, **context) -> str:
    """Render an email template without a request (the worker and ingest have none)."""
    return current_app.jinja_env.get_template(name).render(**context)


def email_content(alert: Alert, unsubscribe_url: str) -> dict:
    """Subject, plain text and HTML of an alert email."""
    context = {"alert": alert, "unsubscribe_url": unsubscribe_url}
    return {
        "subject": f"[{alert.severity.title()}] {alert.title}",
        "text": render_email("email/alert.txt", **context),
        "html": render_email("email/alert.html", **context),
    }


def _facts(alert: Alert) -> list[tuple[str, str]]:
    facts = []
    if alert.device_name:
        facts.append(("Device", alert.device_name))
    if alert.serial:
        facts.append(("Serial", alert.serial))
    if alert.site:
        facts.append(("Site", alert.site))
    facts.append(("Severity", alert.severity.title()))
    facts.append(("Time (UTC)", alert.ts.strftime("%d %b %Y %H:%M")))
    if alert.started_by:
        facts.append(("Started by", alert.started_by))
    return facts


def slack_payload(alert: Alert) -> dict:
    """Slack incoming webhook body: ``text`` for notifications, ``blocks`` for the message."""
    started = f" (started by {alert.started_by})" if alert.started_by else ""
    text = f"{SEVERITY_EMOJI.get(alert.severity, '')} {alert.title}: {alert.text}{started}".strip()
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.text + started}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in _facts(alert)]},
    ]
    if alert.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in upsconnect"},
                        "url": alert.link,
                    }
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def teams_payload(alert: Alert) -> dict:
    """Teams Workflows webhook body: one message carrying an Adaptive Card 1.4."""
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": alert.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": SEVERITY_TEAMS_COLOR.get(alert.severity, "Default"),
        },
        {"type": "TextBlock", "text": alert.text, "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(alert)]},
    ]
    card: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if alert.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in upsconnect", "url": alert.link}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def webhook_payload(alert: Alert) -> dict:
    """The generic JSON webhook body (schema ``upsconnect.alert/1``, documented in docs/notifications.md)."""
    data = asdict(alert)
    return {
        "schema": WEBHOOK_SCHEMA,
        "event_type": alert.event_type,
        "event_label": alert.event_label,
        "severity": alert.severity,
        "title": alert.title,
        "text": alert.text,
        "code": alert.code,
        "ts": alert.ts.isoformat() + "Z",
        "company": alert.company_name,
        "device": (
            {
                "id": alert.device_id,
                "name": alert.device_name,
                "serial": alert.serial,
                "model": alert.model,
                "site": alert.site,
            }
            if alert.device_id
            else None
        ),
        "started_by": alert.started_by or None,
        "link": alert.link or None,
        "details": data["details"],
    }


def payload_for(channel: str, alert: Alert) -> dict:
    return {"slack": slack_payload, "teams": teams_payload, "webhook": webhook_payload}[channel](alert)


# ---------------------------------------------------------------- senders


def post_json(url: str, body: dict) -> None:
    if not valid_webhook_url(url):
        raise DeliveryError("The webhook address must start with http:// or https://.")
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "upsconnect-notify/1"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 (scheme checked above)
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {urlsplit(url).hostname}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{urlsplit(url).hostname} could not be reached: {reason}") from exc


def send(channel: str, target: str, subject: str, payload: dict) -> None:
    """Deliver one stored message; DeliveryError when it was not accepted."""
    if channel == "email":
        try:
            send_email(target, subject, payload.get("text", ""), html=payload.get("html") or None)
        except MailError as exc:
            raise DeliveryError(exc.message) from exc
    elif channel in ("slack", "teams", "webhook"):
        post_json(target, payload)
    else:
        raise DeliveryError(f"Unknown channel {channel!r}.")
