"""Runs on battery found in a device's telemetry: status OB from the first sample to the return (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Sample:
    """The telemetry columns a discharge is measured from (one stored sample)."""

    ts: datetime
    status: str  # NUT ups.status tokens
    load_percent: float | None
    charge_percent: float | None
    runtime_s: float | None
    temperature_c: float | None  # ups.temperature

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(self.status.split())

    @property
    def on_battery(self) -> bool:
        return "OB" in self.tokens


@dataclass(frozen=True)
class Episode:
    """One complete run on battery: the samples on battery, the one before and the one that ended it."""

    before: Sample | None  # the last sample on line before it, when stored
    on_battery: tuple[Sample, ...]
    end: Sample  # the first sample no longer on battery

    @property
    def started_at(self) -> datetime:
        return self.on_battery[0].ts

    @property
    def ended_at(self) -> datetime:
        return self.end.ts

    @property
    def ended_by(self) -> str:
        return "output-off" if "OFF" in self.end.tokens else "line"

    @property
    def kind(self) -> str:
        """A self-test or a calibration shows itself in the status (TEST, CAL); anything else is an outage."""
        tokens = frozenset().union(*(s.tokens for s in self.on_battery))
        if "CAL" in tokens:
            return "calibration"
        if "TEST" in tokens:
            return "self-test"
        return "outage"


def find_episodes(samples: Iterable[Sample]) -> tuple[list[Episode], datetime | None]:
    """The complete episodes in time-ordered samples, and the start of one still running (or None)."""
    episodes: list[Episode] = []
    before: Sample | None = None
    running: list[Sample] = []
    for sample in samples:
        if sample.on_battery:
            running.append(sample)
            continue
        if running:
            episodes.append(Episode(before, tuple(running), sample))
            running = []
        before = sample
    return episodes, (running[0].ts if running else None)
