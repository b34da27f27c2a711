"""Facts the dashboard reads from columns instead of recomputing them per request, and the check that they hold.

The latest status row keeps the mode its ups.status reports and the readings the table sorts by
(`status_facts`, written with every status write); the device row keeps its standing
(`licensing.stored_standing`). `mismatches` recomputes both for every device and lists what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import event, select

from portal.extensions import db
from portal.models import DeviceStatus
from portal.services.fleet import operating_modes
from portal.services.licensing import stored_standing

READINGS = {"ups.load": "load_percent", "battery.charge": "charge_percent", "battery.runtime": "runtime_s"}
STATUS_FACT_COLUMNS = ("status_mode", *READINGS.values())


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def status_facts(ups_status: str | None, variables: dict | None) -> dict[str, Any]:
    """The stored columns of a status row: its reported mode and its readings, from ups.status and the variables."""
    variables = variables or {}
    facts: dict[str, Any] = {"status_mode": operating_modes.status_mode(ups_status or "")}
    facts.update({column: _number(variables.get(name)) for name, column in READINGS.items()})
    return facts


@event.listens_for(DeviceStatus, "before_insert")
@event.listens_for(DeviceStatus, "before_update")
def _keep_status_facts(mapper, connection, status: DeviceStatus) -> None:
    """Every ORM write of a status row stores its facts; Core writes (the ingest upsert) pass `status_facts` themselves."""
    for column, value in status_facts(status.ups_status, status.variables).items():
        setattr(status, column, value)


@dataclass(frozen=True)
class Mismatch:
    device_id: int
    fact: str
    stored: Any
    computed: Any


def mismatches(today: date) -> list[Mismatch]:
    """Every stored fact that differs from what its one function computes now (an empty list when all hold)."""
    found = []
    rows = db.session.execute(
        select(DeviceStatus.device_id, DeviceStatus.ups_status, DeviceStatus.variables, DeviceStatus.status_mode,
               DeviceStatus.load_percent, DeviceStatus.charge_percent, DeviceStatus.runtime_s)
    )
    for row in rows:
        for column, value in status_facts(row.ups_status, row.variables).items():
            if getattr(row, column) != value:
                found.append(Mismatch(row.device_id, column, getattr(row, column), value))
    found += [Mismatch(device_id, fact, stored, computed) for device_id, fact, stored, computed in stored_standing.mismatches(today)]
    return found
