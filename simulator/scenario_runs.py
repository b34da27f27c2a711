"""Scenarios started on a running fleet, remembered so the lab console can show their progress and stop them.

A run is a scenario put on the timelines of chosen devices at one simulated moment. Its end is the
last moment one of its events is still in force; an event without a duration (a power cut until
restored) leaves the run open until it is stopped.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from simulator.scenarios import Scenario

KEPT_RUNS = 20  # finished and stopped runs stay listed until this many newer ones exist
INSTANT_KINDS = frozenset({"restore", "ageing", "load", "replace_battery"})


@dataclass
class ScenarioRun:
    """One scenario on a set of devices, from ``started_s`` (simulated unix seconds)."""

    id: int
    name: str
    serials: tuple[str, ...]
    started_s: float
    ends_s: float  # math.inf: open until stopped
    devices_per_event: dict[str, int] = field(default_factory=dict)
    stopped_s: float | None = None

    def state(self, now_s: float) -> str:
        if self.stopped_s is not None:
            return "stopped"
        return "finished" if now_s >= self.ends_s else "running"

    def progress_percent(self, now_s: float) -> float | None:
        """How far through its events the run is; None for a run open until stopped."""
        if self.stopped_s is not None or now_s >= self.ends_s:
            return 100.0
        if math.isinf(self.ends_s):
            return None
        span = self.ends_s - self.started_s
        return 100.0 if span <= 0 else round(100.0 * (now_s - self.started_s) / span, 1)

    def as_dict(self, now_s: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "serials": list(self.serials),
            "devices_per_event": self.devices_per_event,
            "started_s": self.started_s,
            "ends_s": None if math.isinf(self.ends_s) else self.ends_s,
            "state": self.state(now_s),
            "progress_percent": self.progress_percent(now_s),
        }


def scenario_end_s(scenario: Scenario, start_s: float) -> float:
    """The simulated moment the scenario's last event stops being in force."""
    ends = [
        start_s + event.at_s + (0.0 if event.kind in INSTANT_KINDS else event.duration_s)
        for event in scenario.events
    ]
    return max(ends, default=start_s)


class RunBook:
    """The runs of one fleet, newest first; safe to use from the control API's threads."""

    def __init__(self) -> None:
        self._runs: OrderedDict[int, ScenarioRun] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, scenario: Scenario, serials: list[str], start_s: float, counts: dict[str, int]) -> ScenarioRun:
        with self._lock:
            run = ScenarioRun(
                next(self._ids), scenario.name, tuple(serials), start_s, scenario_end_s(scenario, start_s), counts
            )
            self._runs[run.id] = run
            while len(self._runs) > KEPT_RUNS:
                self._runs.popitem(last=False)
            return run

    def get(self, run_id: int) -> ScenarioRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def all(self) -> list[ScenarioRun]:
        with self._lock:
            return list(reversed(self._runs.values()))
