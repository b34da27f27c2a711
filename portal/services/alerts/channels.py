"""What each channel receives: the alert email, Slack, Microsoft Teams and the JSON webhook bodies.

Builders are pure functions of an ``Alert`` (email needs the app's templates); the outbox sends them.
Text that devices or users wrote (event wording, device names, sites, user names) is escaped for the
target's markup, so it arrives as the words typed and never as a link, a mention or formatting.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from portal.services.outbox.email_templates import render_email
from portal.services.outbox.links import public_url  # noqa: F401 (the alerts modules' links)

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


# Slack pings a whole channel on @channel, @here and @everyone; a zero-width space after "@" keeps the words
_SLACK_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
# Adaptive Card markdown: emphasis, links, code and quotes anywhere; headings and lists at a line's start
_TEAMS_INLINE = re.compile(r"([\\*_\[\]()`~>])")
_TEAMS_LINE_START = re.compile(r"(?m)^(\s*)([#+-]|\d+\.)")


def slack_escape(text: str) -> str:
    """Text for Slack mrkdwn: ``&``, ``<``, ``>`` as Slack's entities (no <link|label>, <!channel>, <@user>),
    and no broadcast mention."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_BROADCAST.sub("@\u200b\\1", text)


def slack_plain(text: str) -> str:
    """Text for a Slack plain_text object: not parsed for links, but still no broadcast mention."""
    return _SLACK_BROADCAST.sub("@\u200b\\1", text)


def teams_escape(text: str) -> str:
    """Text for an Adaptive Card TextBlock or FactSet: every markdown character taken literally."""
    return _TEAMS_LINE_START.sub(r"\1\\\2", _TEAMS_INLINE.sub(r"\\\1", text))


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


def slack_payload(alert: Alert, message_id: str = "") -> dict:
    """Slack incoming webhook body: ``text`` for notifications, ``blocks`` for the message.

    The message id goes in a context line: Slack keeps no delivery id, but a reader can quote it.
    """
    started = f" (started by {alert.started_by})" if alert.started_by else ""
    said = slack_escape(alert.text + started)
    text = f"{SEVERITY_EMOJI.get(alert.severity, '')} {slack_escape(alert.title)}: {said}".strip()
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": slack_plain(alert.title)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": said}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{slack_escape(v)}"} for k, v in _facts(alert)],
        },
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
    if message_id:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Delivery {message_id}"}]})
    return {"text": text, "blocks": blocks}


def teams_payload(alert: Alert, message_id: str = "") -> dict:
    """Teams Workflows webhook body: one message carrying an Adaptive Card 1.4 (the message id as its id)."""
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": teams_escape(alert.title),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": SEVERITY_TEAMS_COLOR.get(alert.severity, "Default"),
        },
        {"type": "TextBlock", "text": teams_escape(alert.text), "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": teams_escape(v)} for k, v in _facts(alert)]},
    ]
    card: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message_id:
        card["id"] = message_id
    if alert.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in upsconnect", "url": alert.link}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def webhook_payload(alert: Alert, message_id: str = "") -> dict:
    """The generic JSON webhook body (schema ``upsconnect.alert/1``, documented in docs/notifications.md).

    JSON carries text as data, so nothing is escaped; ``id`` is the ``webhook-id`` header's value.
    """
    data = asdict(alert)
    return {
        "schema": WEBHOOK_SCHEMA,
        "id": message_id or None,
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


def payload_for(channel: str, alert: Alert, message_id: str = "") -> dict:
    """The body of one channel's message; ``message_id`` is the outbox id the receiver sees."""
    builder = {"slack": slack_payload, "teams": teams_payload, "webhook": webhook_payload}[channel]
    return builder(alert, message_id)
