"""Lab Outbox: read the mail the lab's SMTP server (portal.lab_mail) received, newest first."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_login import login_required

LAB_ONLY = True
MESSAGE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,120}\.eml$")

bp = Blueprint("lab_outbox", __name__, url_prefix="/lab/outbox")


@dataclass(frozen=True)
class Message:
    name: str
    to: str
    sender: str
    subject: str
    date: str
    body: str


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
    )


@bp.get("")
@login_required
def index():
    """The lab mail server's messages, newest first."""
    folder = outbox_folder()
    messages = [_read(folder, name, with_body=False) for name in _names(folder)[:200]]
    return render_template("lab/outbox.html", messages=messages, folder=folder)


@bp.get("/<name>")
@login_required
def show(name: str):
    """One message the lab mail server received."""
    folder = outbox_folder()
    # Only names listed in the folder itself: no path can reach a file outside it.
    if not MESSAGE_NAME.match(name) or name not in _names(folder):
        abort(404, "No such message in the lab outbox.")
    return render_template("lab/outbox_message.html", message=_read(folder, name))
