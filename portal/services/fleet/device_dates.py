"""A device's battery and warranty dates, one rule for the device page, MyInventory, MyRenewals and Shared With Me.

What the portal stored wins (a date set by an operator or by the trial's battery bonus); otherwise what
the UPS reports (`battery.date`, `battery.date.maintenance`); otherwise what the catalogue says about the
model (design life, factory warranty counted from the serial's first registration). Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from catalog.ups_models import model_spec
from portal.services.calendar_dates import add_months
from portal.services.fleet.battery_life import battery_replace_by, parse_day


@dataclass(frozen=True)
class DeviceDates:
    battery_installed_on: date | None
    battery_replace_by: date | None
    battery_warranty_ends_on: date | None
    warranty_ends_on: date | None


def factory_warranty_ends(model: str, registered_on: date | None) -> date | None:
    """The model's factory warranty counted from the first registration; None when either is unknown."""
    try:
        years = model_spec(model).factory_warranty_years
    except ValueError:
        return None
    return add_months(registered_on, 12 * years) if registered_on else None


def installed_on(battery_installed_on: date | None, variables: dict | None) -> date | None:
    """When the battery went in: the stored date (logbook, operator, trial bonus), else the UPS's battery.date."""
    return battery_installed_on or parse_day((variables or {}).get("battery.date"))


def age_replace_by(model: str, battery_installed_on: date | None, variables: dict | None) -> date | None:
    """The age-based replace-by date, from the same installation date every page shows."""
    return battery_replace_by(model, installed_on(battery_installed_on, variables), variables)


def device_dates(
    *,
    model: str,
    variables: dict | None,
    battery_installed_on: date | None,
    battery_warranty_ends_on: date | None,
    warranty_ends_on: date | None,
    registered_on: date | None,
) -> DeviceDates:
    """The four dates as every page and report shows them."""
    installed = installed_on(battery_installed_on, variables)
    return DeviceDates(
        battery_installed_on=installed,
        battery_replace_by=battery_replace_by(model, installed, variables),
        battery_warranty_ends_on=battery_warranty_ends_on,
        warranty_ends_on=warranty_ends_on or factory_warranty_ends(model, registered_on),
    )


def registered_on(trial_started_on: date | None, claimed_at) -> date | None:
    """The serial's first registration: the trial's start (set once per serial), else the claim."""
    if trial_started_on:
        return trial_started_on
    return claimed_at.date() if claimed_at else None
