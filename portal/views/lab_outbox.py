"""Lab Outbox: read the mail the lab's SMTP server (portal.lab_mail) received, newest first."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user, login_required

from portal.services.accounts.access import company_addresses
from portal.services.outbox.transports import LAB_COMPANY_HEADER

LAB_ONLY = True
MESSAGE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,120}\.eml$")

NO_MESSAGE = "No such message in the lab outbox."

bp = Blueprint("lab_outbox", __name__, url_prefix="/lab/outbox")


@dataclass(frozen=True)
class Message:
    name: str
    to: str
    sender: str
    subject: str
    date: str
    body: str
    company: str  # the company the message was sent for (lab mode stamps it), "" if none


def _readable_by(message: Message, addresses: set[str], company_id: int) -> bool:
    """A company reads mail sent for it, or addressed to one of its users; never another company's codes."""
    return message.company == str(company_id) or message.to.strip().lower() in addresses


def outbox_folder() -> Path:
    """Where the lab mail server keeps messages: LAB_OUTBOX_DIR (default instance/lab-outbox)."""
    return Path(current_app.config["LAB_OUTBOX_DIR"])


def _names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    names = [entry.name for entry in folder.iterdir() if entry.is_file() and MESSAGE_NAME.match(entry.name)]
    return sorted(names, reverse=True)  # names start with the UTC time received


def _read(folder: Path, name: str, with_body: bool = True) -> Message:
    message = email.message_from_bytes((folder / name).read_bytes(), policy=email.policy.default)
    body = ""
    if with_body:
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content().replace("\r\n", "\n") if part is not None else ""
    raw_date = message.get("Date")
    try:
        when = parsedate_to_datetime(raw_date).strftime("%d %b %Y %H:%M") if raw_date else ""
    except (TypeError, ValueError):
        when = raw_date or ""
    return Message(
        name=name,
        to=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        subject=str(message.get("Subject", "")),
        date=when,
        body=body,
        company=str(message.get(LAB_COMPANY_HEADER, "")),
    )


def _readable(folder: Path, with_body: bool = False) -> list[Message]:
    """The newest messages this signed-in company may read."""
    addresses = company_addresses(current_user)
    messages = (_read(folder, name, with_body=with_body) for name in _names(folder)[:2000])
    return [m for m in messages if _readable_by(m, addresses, current_user.company_id)][:200]


@bp.get("")
@login_required
def index():
    """The lab mail server's messages, newest first."""
    folder = outbox_folder()
    messages = _readable(folder)
    return render_template("lab/outbox.html", messages=messages, folder=folder)


@bp.get("/<name>")
@login_required
def show(name: str):
    """One message the lab mail server received."""
    folder = outbox_folder()
    # Only names listed in the folder itself: no path can reach a file outside it.
    if not MESSAGE_NAME.match(name) or name not in _names(folder):
        abort(404, NO_MESSAGE)
    message = _read(folder, name)
    if not _readable_by(message, company_addresses(current_user), current_user.company_id):
        abort(404, NO_MESSAGE)
    return render_template("lab/outbox_message.html", message=message)
