"""Which firmware a device should run: the release catalogue is shared with the device lab as data."""

from __future__ import annotations

from catalog import firmware as catalogue


def update_available(model: str, installed: str) -> str | None:
    """The newest released version when it is newer than the installed one, else None."""
    try:
        newest = catalogue.newest_version(model)
    except (KeyError, ValueError):
        return None  # a model the catalogue does not know gets no offer rather than a wrong one
    return newest if catalogue.version_number(newest) > catalogue.version_number(installed) else None
