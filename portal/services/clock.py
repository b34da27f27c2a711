"""The one clock every business date comes from.

Production uses the real clock. In lab mode the clock runs ahead of it by an offset stored in the
database, so a trial or a term can be seen to expire without touching the machine's time (which
would expire sessions and CSRF tokens too).

Retention asks the clock for ``retention_cutoff``: records older than it have lived longer than the
window. A jump of the lab clock is not time lived, so it never makes a record old enough to delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import LabClockMove, LabClockSetting


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...

    def retention_cutoff(self, window: timedelta) -> datetime: ...


def utcnow() -> datetime:
    """Naive UTC, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def today(self) -> date:
        return self.now().date()

    def retention_cutoff(self, window: timedelta) -> datetime:
        return self.now() - window


def cutoff_skipping_moves(now: datetime, window: timedelta, moves: Iterable[tuple[datetime, timedelta]]) -> datetime:
    """The lab time before which a record has lived longer than ``window``, not counting clock moves.

    ``moves`` are (lab time just before the move, how far it moved). Walk back from ``now`` through the
    time that was lived; at each move (newest first) jump over the stretch the clock skipped.
    """
    position, remaining = now, window
    for moved_at, moved_by in sorted(moves, reverse=True):
        lived = max(timedelta(0), position - (moved_at + moved_by))  # from the end of the move to here
        if lived >= remaining:
            break
        remaining -= lived
        position = min(position, moved_at)
    return position - remaining


class LabClock:
    """The real clock plus the lab offset kept in the database."""

    def offset(self) -> timedelta:
        setting = db.session.get(LabClockSetting, 1)
        return timedelta(seconds=setting.offset_seconds if setting else 0)

    def now(self) -> datetime:
        return utcnow() + self.offset()

    def today(self) -> date:
        return self.now().date()

    def retention_cutoff(self, window: timedelta) -> datetime:
        moves = db.session.execute(select(LabClockMove.moved_at, LabClockMove.seconds)).all()
        return cutoff_skipping_moves(self.now(), window, ((at, timedelta(seconds=s)) for at, s in moves))

    def advance(self, delta: timedelta) -> timedelta:
        """Move the lab clock by delta (forward or back), never behind the real clock; returns the move made."""
        setting = db.session.get(LabClockSetting, 1)
        if setting is None:
            setting = LabClockSetting(id=1, offset_seconds=0)
            db.session.add(setting)
            db.session.flush()
        before = setting.offset_seconds
        moved_at = utcnow() + timedelta(seconds=before)
        setting.offset_seconds = max(0, before + int(delta.total_seconds()))
        moved = setting.offset_seconds - before
        if moved:
            db.session.add(LabClockMove(moved_at=moved_at, seconds=moved))
        return timedelta(seconds=moved)

    def reset(self) -> timedelta:
        """Back to the real time; returns the move made."""
        return self.advance(-self.offset())


def install_clock(app: Flask) -> None:
    app.extensions["upsconnect.clock"] = LabClock() if app.config["LAB_MODE"] else SystemClock()


def clock() -> Clock:
    """The running app's clock."""
    return current_app.extensions["upsconnect.clock"]
