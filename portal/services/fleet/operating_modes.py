"""The SmartConnect operating mode of a device: one precedence table, read by the dashboard and the device page.

Pure (no database): `mode_key` walks `PRECEDENCE`; ingest stores `status_mode` (the same walk for a device
reporting on time) on the status row, and `overview.mode_expression` puts the freshness modes of the same
table over that stored column, so the two can never disagree about which mode wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """One operating mode: what it is called, how serious it is, and what puts a device in it."""

    key: str
    label: str
    severity: str  # critical | warning | info | ok
    freshness: str | None = None  # "offline" or "stale": decided by how recently the device reported
    status_token: str | None = None  # a token of NUT's ups.status, e.g. "OB"
    tile: bool = True  # counted as a dashboard tile; False: shown on the device page only
    shows_runtime: bool = False  # the estimated runtime is shown beside the label


# In the order a person should look at them: the first that applies wins. Severity colours are SmartConnect's.
PRECEDENCE: tuple[Mode, ...] = (
    Mode("offline", "Offline", "critical", freshness="offline"),
    Mode("stale", "Not reporting", "warning", freshness="stale"),
    Mode("low_battery", "Low Battery", "critical", status_token="LB", shows_runtime=True),
    Mode("on_battery", "On Battery", "warning", status_token="OB", shows_runtime=True),
    Mode("replace_battery", "Replace Battery", "warning", status_token="RB"),
    Mode("bypass", "Bypass", "warning", status_token="BYPASS"),
    Mode("calibration", "Runtime Calibration Initiated", "info", status_token="CAL"),
    # A self-test is brief: the dashboard keeps such a device under On Line, its page says what runs.
    Mode("self_test", "Self-test in progress", "info", status_token="TEST", tile=False, shows_runtime=True),
    Mode("online", "On Line", "ok", shows_runtime=True),
)
BY_KEY: dict[str, Mode] = {mode.key: mode for mode in PRECEDENCE}
TILES: tuple[Mode, ...] = tuple(mode for mode in PRECEDENCE if mode.tile)
FALLBACK = BY_KEY["online"]


def mode_key(ups_status: str, freshness: str, *, tiles_only: bool = False) -> str:
    """The mode that wins for a status like "OB LB" and a freshness of "online", "stale" or "offline"."""
    tokens = set(ups_status.split())
    for mode in PRECEDENCE:
        if tiles_only and not mode.tile:
            continue
        if mode.freshness is not None and mode.freshness == freshness:
            return mode.key
        if mode.status_token is not None and freshness == "online" and mode.status_token in tokens:
            return mode.key
    return FALLBACK.key


# Freshness decides before any status token, so a status row can store the mode its ups.status reports
# (`status_mode`) and the dashboard puts offline or stale over it when it reads.
FRESHNESS_MODES: tuple[Mode, ...] = tuple(mode for mode in TILES if mode.freshness)
assert TILES[: len(FRESHNESS_MODES)] == FRESHNESS_MODES, "freshness modes must come first"


def status_mode(ups_status: str) -> str:
    """The tile mode a status like "OB LB" puts a device in while it reports on time: the stored part of its mode."""
    return mode_key(ups_status, "online", tiles_only=True)
