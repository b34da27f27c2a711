"""How a queued message leaves the portal: email over SMTP, a JSON body over HTTP POST.

Each sender raises ``DeliveryError`` with a short reason when the target did not accept the message;
the queue records it and retries.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app

from portal.services.errors import DomainError

HTTP_CHANNELS = ("slack", "teams", "webhook")  # every one of them is a JSON POST
HTTP_TIMEOUT_S = 10
SMTP_TIMEOUT_S = 10


class DeliveryError(DomainError):
    """The mail server or webhook did not accept the message."""


def valid_webhook_url(url: str) -> bool:
    """http(s) with a host and no credentials in the address."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username


# In lab mode each message names the company it was sent for, so the Lab Outbox shows a company only its own mail.
LAB_COMPANY_HEADER = "X-Upsconnect-Company"


def build_message(
    to: str, subject: str, text: str, *, html: str | None = None, company_id: int | None = None
) -> EmailMessage:
    """One email from the configured sender, plain text with an optional HTML alternative."""
    message = EmailMessage()
    if company_id is not None and current_app.config.get("LAB_MODE"):
        message[LAB_COMPANY_HEADER] = str(company_id)
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="upsconnect.local")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_email(to: str, subject: str, text: str, *, html: str | None = None, company_id: int | None = None) -> None:
    """Hand one message to the configured SMTP server, or DeliveryError saying which server failed."""
    config = current_app.config
    server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    message = build_message(to, subject, text, html=html, company_id=company_id)
    try:
        with smtplib.SMTP(server, port, timeout=SMTP_TIMEOUT_S) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        current_app.logger.warning("mail to %s via %s:%s failed: %s", to, server, port, exc)
        raise DeliveryError(
            f"The email could not be sent: the mail server {server}:{port} did not accept it."
        ) from exc


def post_json(url: str, body: dict) -> None:
    """POST the body as JSON; any 2xx is success."""
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


def send(channel: str, target: str, subject: str, payload: dict, *, company_id: int | None = None) -> None:
    """Deliver one stored message by its channel's transport; DeliveryError when it was not accepted."""
    if channel == "email":
        send_email(target, subject, payload.get("text", ""), html=payload.get("html") or None, company_id=company_id)
    elif channel in HTTP_CHANNELS:
        post_json(target, payload)
    else:
        raise DeliveryError(f"Unknown channel {channel!r}.")
