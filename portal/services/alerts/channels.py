"""What each channel receives: the alert email, Slack, Microsoft Teams and the JSON webhook bodies.

Builders are pure functions of an ``Alert`` (email needs the app's templates); the outbox sends them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from flask import current_app

from portal.services.outbox.email_templates import render_email

WEBHOOK_SCHEMA = "upsconnect.alert/1"
SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_yellow_circle:",
    "informational": ":large_blue_circle:",
}
SEVERITY_TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "informational": "Accent"}


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


def public_url(path: str) -> str:
    """An absolute link for a message read outside the portal."""
    return current_app.config.get("PUBLIC_URL", "").rstrip("/") + path



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
