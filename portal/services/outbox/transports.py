"""How a queued message leaves the portal: email over SMTP, a JSON body over HTTP POST.

Each sender raises ``DeliveryError`` with a short reason when the target did not accept the message;
the queue records it and retries. Webhook destinations must be public hosts (loopback too in lab
mode); the address checked is the address connected to, so DNS cannot swap in another one between.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import current_app

from portal.services.errors import DomainError
from portal.services.outbox.signing import new_message_id, signature_headers

HTTP_CHANNELS = ("slack", "teams", "webhook")  # every one of them is a JSON POST
HTTP_TIMEOUT_S = 10
SMTP_TIMEOUT_S = 10
WEBHOOK_SCHEME_MESSAGE = "A webhook address must start with http:// or https://."
WEBHOOK_SPACE_MESSAGE = (
    "A webhook address cannot contain spaces or control characters; copy it again from Slack, Teams or "
    "your receiver."
)
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")  # http.client refuses these (InvalidURL)


class DeliveryError(DomainError):
    """The mail server or webhook did not accept the message."""


class WebhookAddressError(DomainError):
    """A webhook address points somewhere the portal will not post to."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def valid_webhook_url(url: str) -> bool:
    """http(s) with a host and no credentials in the address."""
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username


def address_refused(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why the portal will not connect to this address, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for kind, flag in (
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if flag:
            return kind
    return None if address.is_global else "an address that is not public"


def public_addresses(url: str, *, allow_loopback: bool) -> list[IPAddress]:
    """Every address the URL's host resolves to, all of them public; WebhookAddressError otherwise.

    Every address must pass, not just one: a name that also resolves to an internal host is refused.
    """
    if _UNSAFE_IN_URL.search(url.strip()):
        raise WebhookAddressError(WEBHOOK_SPACE_MESSAGE)
    if not valid_webhook_url(url):
        raise WebhookAddressError(WEBHOOK_SCHEME_MESSAGE)
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookAddressError(f"The webhook host {host} could not be found.") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        reason = address_refused(address, allow_loopback=allow_loopback)
        if reason:
            raise WebhookAddressError(
                f"The webhook host {host} is {reason} ({address}); webhooks go to public internet addresses only."
            )
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebhookAddressError(f"The webhook host {host} could not be found.")
    return addresses


def check_webhook_destination(url: str) -> None:
    """Refuse a webhook address the portal will not post to (loopback is allowed in lab mode)."""
    public_addresses(url, allow_loopback=bool(current_app.config.get("LAB_MODE")))


# In lab mode each message names the company it was sent for, so the Lab Outbox shows a company only its own mail.
LAB_COMPANY_HEADER = "X-Upsconnect-Company"


def email_message_id(message_id: str, sender: str) -> str:
    """The Message-ID header for an outbox message: the same on every retry, so mail clients and
    archives see one message however often it was handed over."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "upsconnect.local"
    return f"<{message_id}@{domain}>"


def build_message(
    to: str, subject: str, text: str, *, html: str | None = None, company_id: int | None = None,
    message_id: str = "",
) -> EmailMessage:  # fmt: skip
    """One email from the configured sender, plain text with an optional HTML alternative."""
    message = EmailMessage()
    if company_id is not None and current_app.config.get("LAB_MODE"):
        message[LAB_COMPANY_HEADER] = str(company_id)
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = email_message_id(message_id or new_message_id(), current_app.config["MAIL_SENDER"])
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_email(
    to: str, subject: str, text: str, *, html: str | None = None, company_id: int | None = None,
    message_id: str = "",
) -> None:  # fmt: skip
    """Hand one message to the configured SMTP server, or DeliveryError saying which server failed."""
    config = current_app.config
    server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    message = build_message(to, subject, text, html=html, company_id=company_id, message_id=message_id)
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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to one already-checked address, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to one already-checked address; the certificate is still verified for the URL's host."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = str(address)

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post_json(url: str, body: dict, *, headers: dict[str, str] | None = None) -> None:
    """POST the body as JSON; any 2xx is success."""
    post_bytes(url, json.dumps(body).encode(), headers=headers)


def post_bytes(url: str, data: bytes, *, headers: dict[str, str] | None = None) -> None:
    """POST a JSON body to a checked public address; any 2xx is success, redirects are not followed."""
    try:
        addresses = public_addresses(url, allow_loopback=bool(current_app.config.get("LAB_MODE")))
    except WebhookAddressError as error:
        raise DeliveryError(error.message) from None
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent_headers = {
        "Content-Type": "application/json",
        "User-Agent": "upsconnect-notify/1",
        **(headers or {}),
    }
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    last_error: OSError | None = None
    for address in addresses:  # like create_connection: the next checked address when one refuses
        connection = connection_class(host, port, address, HTTP_TIMEOUT_S)
        try:
            connection.request("POST", path, body=data, headers=sent_headers)
            response = connection.getresponse()
            response.read(1024)
        except (OSError, http.client.HTTPException) as exc:  # first: a certificate error is also a ValueError
            last_error = exc if isinstance(exc, OSError) else OSError(str(exc))
            continue
        except ValueError:  # http.client.InvalidURL: a character the address check does not know of
            raise DeliveryError("The webhook address is not a valid URL; correct it in the notification policy.") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise DeliveryError(f"HTTP {response.status} from {host}")
        return
    raise DeliveryError(f"{host} could not be reached: {last_error}")


def send(
    channel: str, target: str, subject: str, payload: dict, *, message_id: str = "", secret: str = "",
    company_id: int | None = None,
) -> None:
    """Deliver one stored message by its channel's transport; DeliveryError when it was not accepted.

    The generic webhook is signed with the company's secret (Standard Webhooks); every HTTP channel
    carries the message id, the same on every retry, so a receiver can drop a repeat.
    """
    if channel == "email":
        send_email(
            target, subject, payload.get("text", ""), html=payload.get("html") or None, company_id=company_id,
            message_id=message_id,
        )  # fmt: skip
    elif channel == "webhook" and secret:
        data = json.dumps(payload).encode()
        # wall time, not the lab clock: the receiver checks it against its own clock
        post_bytes(target, data, headers=signature_headers(secret, message_id, int(time.time()), data))
    elif channel in HTTP_CHANNELS:
        post_json(target, payload, headers={"webhook-id": message_id} if message_id else None)
    else:
        raise DeliveryError(f"Unknown channel {channel!r}.")
