"""Logging for every portal process (web, `flask ingest`, `flask notify`), configured in one place.

``UPSCONNECT_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR; default INFO) and ``UPSCONNECT_LOG_FORMAT``
(``text``, the default, or ``json``: one JSON object a line for a log shipper) come through
``portal/config.py``. One handler on the root logger, to stderr; configuring again replaces it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
_HANDLER_NAME = "upsconnect"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, process, message, exception if any."""

    def __init__(self) -> None:
        super().__init__()
        self._host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "host": self._host,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def level_from(value: str | None) -> int:
    """The level named (any case); INFO for nothing or a name that is not a level, never an error."""
    name = (value or "INFO").strip().upper()
    return getattr(logging, name) if name in LEVELS else logging.INFO


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was when logging was configured:
    whoever replaced it meanwhile (a test runner capturing a command's output, then closing it) never
    leaves a thread of a library logging into a closed stream."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # StreamHandler's own __init__ would bind one stream for good

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def configure_logging(level: str | None, log_format: str | None) -> None:
    """Route every logger through one stderr handler at ``level``, as text or JSON lines."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(_HANDLER_NAME)
    if (log_format or "text").strip().lower() == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level_from(level))
    # Libraries that are chatty at INFO stay at WARNING unless DEBUG is asked for.
    quiet = logging.DEBUG if root.level == logging.DEBUG else logging.WARNING
    for name in ("amqtt", "transitions", "passlib", "faker", "mail.log"):
        logging.getLogger(name).setLevel(quiet)


def configure_from_environment() -> None:
    """For processes that run before an app exists (``make run``'s supervisor)."""
    configure_logging(os.environ.get("UPSCONNECT_LOG_LEVEL"), os.environ.get("UPSCONNECT_LOG_FORMAT"))
