"""Outgoing email over SMTP to the configured server."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from portal.services.errors import DomainError


class MailError(DomainError):
    """The mail server could not be reached or refused the message."""


def build_message(to: str, subject: str, text: str, *, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="upsconnect.local")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_email(to: str, subject: str, text: str, *, html: str | None = None) -> None:
    """Deliver one message, or MailError saying which server failed."""
    config = current_app.config
    server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    message = build_message(to, subject, text, html=html)
    try:
        with smtplib.SMTP(server, port, timeout=10) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        current_app.logger.warning("mail to %s via %s:%s failed: %s", to, server, port, exc)
        raise MailError(f"The email could not be sent: the mail server {server}:{port} did not accept it.") from exc
