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
from portal.services.licensing.entitlements import (
    entitlement_rows_by_device,
    store_standing,
    stored_standing_on,
)


def _due(today: date):
    return or_(Device.standing_on.is_(None), Device.standing_on > today, Device.standing_until <= today)


# Devices handled per round: one query for their rows, one for their entitlements. After a lab clock
# move of years every device is due; a query per device would then be one per device of the fleet.
_CHUNK = 500


def _in_chunks(query):
    """The devices `query` selects, in id order, a chunk at a time with their entitlement rows."""
    after = 0
    while True:
        devices = list(db.session.scalars(query.where(Device.id > after).order_by(Device.id).limit(_CHUNK)))
        if not devices:
            return
        rows = entitlement_rows_by_device([device.id for device in devices])
        yield [(device, rows[device.id]) for device in devices]
        after = devices[-1].id


def roll_over(today: date) -> int:
    """Recompute the devices whose stored standing no longer holds on `today` (a boundary passed, the clock went back)."""
    # Read each chunk before writing it: a device written is no longer due, so seeking by id stays exact.
    count = 0
    for chunk in _in_chunks(select(Device).where(_due(today))):
        for device, rows in chunk:
            store_standing(device, today, rows)
        db.session.flush()
        count += len(chunk)
    return count


def mismatches(today: date) -> list[tuple[int, str, object, object]]:
    """(device id, fact, stored, computed) for each stored standing that differs from the computed one on `today`.

    A device never stored (a new serial) holds the defaults, which are right until it gets an entitlement.
    """
    found = []
    for chunk in _in_chunks(select(Device)):
        for device, rows in chunk:
            computed = stored_standing_on(device, today, rows)
            for name in ("plan_today", "term_end", "on_trial", "standing_until"):
                stored = getattr(device, name)
                if device.standing_on is None and name == "standing_until":
                    continue
                if stored != getattr(computed, name):
                    found.append((device.id, name, stored, getattr(computed, name)))
    return found
