"""Rolling the standing stored on each device row over to a new day, and checking it.

`entitlements.store_standing` is the one writer: `refresh_segments` calls it whenever the segments change
(trial, activation, purchase). A day reaching a segment boundary changes the standing without any write, so
`roll_over` recomputes the devices it reached: `flask renewals` each day, and every lab clock move.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Device
from portal.services.licensing.entitlements import store_standing, stored_standing_on


def _due(today: date):
    return or_(Device.standing_on.is_(None), Device.standing_on > today, Device.standing_until <= today)


def roll_over(today: date) -> int:
    """Recompute the devices whose stored standing no longer holds on `today` (a boundary passed, the clock went back)."""
    devices = list(db.session.scalars(select(Device).where(_due(today))))
    for device in devices:
        store_standing(device, today)
    db.session.flush()
    return len(devices)


def mismatches(today: date) -> list[tuple[int, str, object, object]]:
    """(device id, fact, stored, computed) for each stored standing that differs from the computed one on `today`.

    A device never stored (a new serial) holds the defaults, which are right until it gets an entitlement.
    """
    found = []
    for device in db.session.scalars(select(Device).order_by(Device.id)):
        computed = stored_standing_on(device, today)
        for name in ("plan_today", "term_end", "on_trial", "standing_until"):
            stored = getattr(device, name)
            if device.standing_on is None and name == "standing_until":
                continue
            if stored != getattr(computed, name):
                found.append((device.id, name, stored, getattr(computed, name)))
    return found
