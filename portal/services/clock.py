"""The one clock every business date comes from.

Production uses the real clock. In lab mode the clock runs ahead of it by an offset stored in the
database, so a trial or a term can be seen to expire without touching the machine's time (which
would expire sessions and CSRF tokens too).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from flask import Flask, current_app

from portal.extensions import db
from portal.models import LabClockSetting


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


def utcnow() -> datetime:
    """Naive UTC, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def today(self) -> date:
        return self.now().date()


class LabClock:
    """The real clock plus the lab offset kept in the database."""

    def offset(self) -> timedelta:
        setting = db.session.get(LabClockSetting, 1)
        return timedelta(seconds=setting.offset_seconds if setting else 0)

    def now(self) -> datetime:
        return utcnow() + self.offset()

    def today(self) -> date:
        return self.now().date()

    def advance(self, delta: timedelta) -> None:
        """Move the lab clock by delta (forward or back); never behind the real clock."""
        setting = db.session.get(LabClockSetting, 1)
        if setting is None:
            setting = LabClockSetting(id=1, offset_seconds=0)
            db.session.add(setting)
        setting.offset_seconds = max(0, setting.offset_seconds + int(delta.total_seconds()))

    def reset(self) -> None:
        """Back to the real time."""
        setting = db.session.get(LabClockSetting, 1)
        if setting is not None:
            setting.offset_seconds = 0


def install_clock(app: Flask) -> None:
    app.extensions["upsconnect.clock"] = LabClock() if app.config["LAB_MODE"] else SystemClock()


def clock() -> Clock:
    """The running app's clock."""
    return current_app.extensions["upsconnect.clock"]
