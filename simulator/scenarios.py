"""Scenarios as TOML data: timed power events, heat, ageing and load on chosen devices or a share.

```toml
name = "Blackout on 10% of the fleet"
speed = 60                 # optional: the time acceleration while it runs
[[event]]
at = "2m"                  # simulated time after the scenario starts (number = seconds, or 30s/5m/2h/3d/1y)
kind = "blackout"          # blackout brownout surge distortion frequency restore heat_wave ageing load
duration = "5m"
share = 0.1                # or serials = ["AS2311123456"]; neither = every device
```
"""

from __future__ import annotations

import math
import random
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.device import LOAD_PROFILES, POWER_KINDS, SimulatedDevice

EVENT_KINDS = (*POWER_KINDS, "heat_wave", "ageing", "load", "replace_battery")
_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "y": 365.25 * 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdy]?)\s*$")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or a string like ``90s``, ``5m``, ``3h``, ``2d``, ``4y``."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise ScenarioError(f"{where}: a duration must be zero or more seconds")
        return float(value)
    match = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ScenarioError(f"{where}: expected seconds or a duration like 5m, 3h, 2d, got {value!r}")
    return float(match.group(1)) * _UNITS_S[match.group(2) or "s"]


@dataclass(frozen=True)
class ScenarioEvent:
    """One timed event of a scenario."""

    at_s: float
    kind: str
    duration_s: float = math.inf
    share: float | None = None
    serials: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A named list of timed events and an optional speed."""

    name: str
    events: tuple[ScenarioEvent, ...]
    speed: float | None = None

    def targets(self, index: int, serials: Sequence[str], seed: int) -> list[str]:
        """The devices event ``index`` applies to; a share is drawn from the seed."""
        event = self.events[index]
        ordered = sorted(serials)
        if event.serials:
            unknown = sorted(set(event.serials) - set(ordered))
            if unknown:
                raise ScenarioError(f"event {index + 1}: unknown serial(s) {', '.join(unknown)}")
            return list(event.serials)
        if event.share is None:
            return ordered
        count = round(event.share * len(ordered))
        return sorted(random.Random(f"scenario:{seed}:{self.name}:{index}").sample(ordered, count))

    def apply(self, devices: Iterable[SimulatedDevice], start_s: float, seed: int) -> dict[str, int]:
        """Schedule every event on the devices it targets; returns the device count per event."""
        by_serial = {device.serial: device for device in devices}
        counts = {}
        for index, event in enumerate(self.events):
            chosen = self.targets(index, list(by_serial), seed)
            for serial in chosen:
                apply_event(by_serial[serial], event, start_s + event.at_s)
            counts[f"{index + 1}:{event.kind}"] = len(chosen)
        return counts


def apply_event(device: SimulatedDevice, event: ScenarioEvent, at_s: float) -> None:
    """Put one event on one device's timeline."""
    params = event.params
    if event.kind in POWER_KINDS:
        device.schedule_power(event.kind, at_s, event.duration_s, params.get("severity", 1.0))
    elif event.kind == "heat_wave":
        device.schedule_heat(params.get("temp_c", 40.0), at_s, event.duration_s)
    elif event.kind == "ageing":
        device.schedule(at_s, "age_battery", years=params["years"])
    elif event.kind == "load":
        device.schedule(at_s, "set_load", **params)
    elif event.kind == "replace_battery":
        device.schedule(at_s, "replace_battery")


_COMMON_KEYS = {"at", "kind", "duration", "share", "serials"}
_PARAM_KEYS = {
    **{kind: {"severity"} for kind in POWER_KINDS},
    "heat_wave": {"temp_c"},
    "ageing": {"years"},
    "load": {"profile", "scale", "percent"},
    "replace_battery": set(),
}


def _event(raw: Any, index: int) -> ScenarioEvent:
    where = f"event {index + 1}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table")
    kind = raw.get("kind")
    if kind not in EVENT_KINDS:
        raise ScenarioError(f"{where}: kind must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    unknown = sorted(set(raw) - _COMMON_KEYS - _PARAM_KEYS[kind])
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)} for {kind}")
    at_s = parse_duration(raw.get("at", 0), f"{where}.at")
    duration_s = parse_duration(raw["duration"], f"{where}.duration") if "duration" in raw else math.inf
    share = raw.get("share")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1
    ):
        raise ScenarioError(f"{where}.share: a fraction between 0 and 1, got {share!r}")
    serials = raw.get("serials", [])
    if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
        raise ScenarioError(f"{where}.serials: a list of serial strings")
    if share is not None and serials:
        raise ScenarioError(f"{where}: give share or serials, not both")
    params = {key: raw[key] for key in _PARAM_KEYS[kind] if key in raw}
    for key, value in params.items():
        if key != "profile" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ScenarioError(f"{where}.{key}: expected a number, got {value!r}")
    if kind == "ageing" and not (0 <= params.get("years", -1) <= 20):
        raise ScenarioError(f"{where}: ageing needs years between 0 and 20")
    if kind == "heat_wave" and not (-20 <= params.get("temp_c", 40.0) <= 70):
        raise ScenarioError(f"{where}: temp_c must be between -20 and 70")
    if kind == "load" and params.get("profile", "constant") not in LOAD_PROFILES:
        raise ScenarioError(f"{where}: profile must be one of {', '.join(LOAD_PROFILES)}")
    if "severity" in params and not 0 < params["severity"] <= 2:
        raise ScenarioError(f"{where}: severity must be above 0 and at most 2")
    return ScenarioEvent(at_s, kind, duration_s, share, tuple(serials), params)


def single_event(raw: dict[str, Any], name: str) -> Scenario:
    """A one-event scenario from the same keys as an ``[[event]]`` table (the lab console's quick actions)."""
    return Scenario(name, (_event(raw, 0),))


def shipped_scenarios() -> dict[str, str]:
    """The scenario files in ``simulator/scenarios/``: file name -> the scenario's own name."""
    folder = Path(__file__).parent / "scenarios"
    return {path.stem: load_scenario(path).name for path in sorted(folder.glob("*.toml"))}


def parse_scenario(text: str, name: str = "scenario") -> Scenario:
    """A scenario from TOML text; ScenarioError with the place of the problem otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"name", "speed", "description", "event"})
    if unknown:
        raise ScenarioError(f"{name}: unknown key(s) {', '.join(unknown)}")
    speed = data.get("speed")
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed <= 1e6
    ):
        raise ScenarioError(f"{name}: speed must be a number above 0")
    raw_events = data.get("event", [])
    if not isinstance(raw_events, list):
        raise ScenarioError(f"{name}: events are [[event]] tables")
    events = tuple(sorted((_event(raw, i) for i, raw in enumerate(raw_events)), key=lambda e: e.at_s))
    return Scenario(str(data.get("name", name)), events, float(speed) if speed is not None else None)


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from a file; a bare name is looked up in ``simulator/scenarios/``."""
    candidate = Path(path)
    if not candidate.exists() and not candidate.suffix:
        candidate = Path(__file__).parent / "scenarios" / f"{path}.toml"
    try:
        text = candidate.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {str(path)!r}: {exc.strerror}") from None
    return parse_scenario(text, candidate.stem)
