"""Why a device went to battery: transfers over a period by reason, time on battery, how often they were
short, and the input-sensitivity advice that follows. Pure: fed by transfers_query.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

SHORT_S = 10.0  # a transfer this long or shorter is "short": the load hardly needed the battery
PERIODS_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30

BLACKOUT = "blackout"
LOW_VOLTAGE = "low-voltage"
HIGH_VOLTAGE = "high-voltage"
RATE_OF_CHANGE = "rate-of-change"
DISTORTION = "distortion"
FREQUENCY = "frequency"
SELF_TEST = "self-test"
INPUT_PROBLEM = "input-problem"  # an input power problem no sample classified further

REASON_LABELS = {
    BLACKOUT: "Blackout",
    LOW_VOLTAGE: "Low voltage",
    HIGH_VOLTAGE: "High voltage",
    RATE_OF_CHANGE: "Rate of change (notch/spike)",
    DISTORTION: "Distortion",
    FREQUENCY: "Frequency out of range",
    SELF_TEST: "Self-test",
    INPUT_PROBLEM: "Input power problem (not sampled)",
}
SENSITIVE_REASONS = frozenset({RATE_OF_CHANGE, DISTORTION})

# The device's input sensitivity, most sensitive first (NUT input.sensitivity; "normal" is APC's "High").
SENSITIVITY_ORDER = ("normal", "reduced", "low")
ADVICE_SHARE = 0.5  # most transfers: more than half


@dataclass(frozen=True)
class Transfer:
    start: datetime
    end: datetime  # the period's end (or now) when still on battery
    reason: str

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


@dataclass
class TransferSummary:
    transfers: int = 0
    seconds_on_battery: float = 0.0
    short: int = 0  # transfers of SHORT_S or less
    short_sensitive: int = 0  # short ones caused by rate of change or distortion
    by_reason: Counter = field(default_factory=Counter)
    seconds_by_reason: Counter = field(default_factory=Counter)

    @property
    def minutes_on_battery(self) -> float:
        return round(self.seconds_on_battery / 60, 1)

    @property
    def short_share(self) -> float:
        return self.short / self.transfers if self.transfers else 0.0

    def rows(self) -> list[tuple[str, int, float]]:
        """(label, transfers, minutes on battery), most frequent first."""
        return [
            (REASON_LABELS.get(reason, reason), count, round(self.seconds_by_reason[reason] / 60, 1))
            for reason, count in sorted(self.by_reason.items(), key=lambda item: (-item[1], item[0]))
        ]

    def add(self, other: TransferSummary) -> None:
        self.transfers += other.transfers
        self.seconds_on_battery += other.seconds_on_battery
        self.short += other.short
        self.short_sensitive += other.short_sensitive
        self.by_reason.update(other.by_reason)
        self.seconds_by_reason.update(other.seconds_by_reason)


def summarize(
    transfers: Iterable[Transfer], *, start: datetime, end: datetime, short_s: float = SHORT_S
) -> TransferSummary:
    """Transfers that began in [start, end) count by reason; time on battery counts only inside the period."""
    summary = TransferSummary()
    for transfer in transfers:
        inside = (min(transfer.end, end) - max(transfer.start, start)).total_seconds()
        if inside > 0:
            summary.seconds_on_battery += inside
            summary.seconds_by_reason[transfer.reason] += inside
        if not start <= transfer.start < end:
            continue
        summary.transfers += 1
        summary.by_reason[transfer.reason] += 1
        if transfer.seconds <= short_s:
            summary.short += 1
            if transfer.reason in SENSITIVE_REASONS:
                summary.short_sensitive += 1
    return summary


@dataclass(frozen=True)
class Advice:
    current: str
    suggested: str
    reason: str  # why, with the figures


def sensitivity_advice(summary: TransferSummary, sensitivity: str) -> Advice | None:
    """Suggest a less sensitive setting when most transfers (self-tests aside) are short and caused by rate of
    change or distortion, which a less sensitive setting rides through; None when nothing to advise."""
    current = (sensitivity or "").lower()
    if current not in SENSITIVITY_ORDER[:-1]:
        return None  # unknown, or already the least sensitive
    counted = summary.transfers - summary.by_reason[SELF_TEST]
    if counted <= 0 or summary.short_sensitive <= ADVICE_SHARE * counted:
        return None
    suggested = SENSITIVITY_ORDER[SENSITIVITY_ORDER.index(current) + 1]
    causes = " and ".join(
        REASON_LABELS[r].split(" (")[0].lower() for r in (RATE_OF_CHANGE, DISTORTION) if summary.by_reason[r]
    )
    reason = (
        f"{summary.short_sensitive} of {counted} transfers lasted {SHORT_S:g} s or less and were caused by "
        f"{causes}; at {suggested.capitalize()} sensitivity the UPS rides through such input on line "
        f"(it still goes to battery for blackouts and voltage out of range)."
    )
    return Advice(current, suggested, reason)
