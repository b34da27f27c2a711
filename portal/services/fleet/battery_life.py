"""When a battery is due for replacement: one rule for reports, Shared With Me and quotes."""

from __future__ import annotations

from datetime import date

from catalog.ups_models import model_spec
from portal.services.calendar_dates import add_months


def parse_day(value: object) -> date | None:
    """A date from a NUT variable ("2028-05-01", "2028/05/01"); None when absent or unreadable."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip().replace("/", "-")[:10])
    except ValueError:
        return None


def battery_life_months(model: str) -> int | None:
    """The model's battery design life at 25 C in months, from the catalogue; None if unknown."""
    try:
        return round(model_spec(model).design_life_years_25c * 12)
    except ValueError:
        return None


def battery_replace_by(model: str, installed_on: date | None, variables: dict | None) -> date | None:
    """The UPS's own replace-by date (battery.date.maintenance) when reported, else installation
    plus the model's design life, else unknown. A reported date is the old battery's when the UPS's own
    install date (battery.date), or the reported date itself, is before the recorded installation (a
    replacement entered in the logbook that the UPS has not been told of)."""
    reported = parse_day((variables or {}).get("battery.date.maintenance"))
    ups_installed = parse_day((variables or {}).get("battery.date"))
    stale = installed_on is not None and reported is not None and (
        reported < installed_on or (ups_installed is not None and ups_installed < installed_on)
    )
    if reported and not stale:
        return reported
    life = battery_life_months(model)
    if installed_on is None or life is None:
        return None
    return add_months(installed_on, life)
