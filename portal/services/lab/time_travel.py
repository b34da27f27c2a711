"""One lab clock for everything: moving it moves the simulated fleet's time too.

The portal's lab clock is the reference. The fleet's simulated clock starts at the lab clock's time
(``make run`` passes it) and is pushed forward whenever the lab clock moves, so devices keep stamping
their messages in lab time. A fleet cannot go back in time: moving the lab clock back leaves the
devices ahead, and the console shows by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portal.services.clock import LabClock
from portal.services.lab.console import from_unix
from portal.services.lab.control_client import LabControl, LabRefused, LabUnavailable
from portal.services.licensing.stored_standing import roll_over


@dataclass(frozen=True)
class ClockMove:
    moved: timedelta
    fleet_note: str  # what happened to the simulated fleet, in a sentence ("" when there is none)


def move_lab_clock(lab_clock: LabClock, delta: timedelta | None, control: LabControl) -> ClockMove:
    """Move the lab clock by ``delta`` (None: back to the real time), then bring the fleet to the new time."""
    moved = lab_clock.reset() if delta is None else lab_clock.advance(delta)
    roll_over(lab_clock.today())  # plans that a boundary passed (or, going back, had not reached) change now
    if not control.configured:
        return ClockMove(moved, "")
    try:
        fleet_now = from_unix(control.stats()["sim_time_s"])
        gap_s = (lab_clock.now() - fleet_now).total_seconds()
        if gap_s < -1:
            return ClockMove(
                moved, "The simulated fleet stays ahead of the lab clock (it ran faster, or the clock went back): "
                "a fleet never goes back in time."
            )
        if gap_s > 1:
            control.advance(gap_s)
    except (LabUnavailable, LabRefused) as error:
        return ClockMove(moved, f"The simulated fleet did not follow: {error.message}")
    return ClockMove(moved, "The simulated fleet moved with it.")
