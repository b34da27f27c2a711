"""The firmware catalogue as data: released versions per model family, and how long an install takes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.ups_models import model_spec

# Released application versions per firmware family, oldest first [est]. The factory version of each
# model is in the catalogue; anything newer is offered as an upgrade.
RELEASES: dict[str, tuple[str, ...]] = {
    "UPS 15.x": ("15.1", "15.3", "15.5", "15.6", "15.8"),
    "UPS 04.x": ("04.0", "04.1", "04.2", "04.3"),
}

_VERSION_RE = re.compile(r"^UPS (?P<number>\d+\.\d+)(?: \((?P<build>ID\d+)\))?$")


@dataclass(frozen=True)
class InstallTiming:
    """Simulated seconds of each phase of a firmware install."""

    transfer_s: float = 30.0
    install_s: float = 30.0
    reboot_s: float = 15.0


INSTALL_TIMING = InstallTiming()


def factory_firmware(model: str) -> str:
    """The version a new device of ``model`` ships with."""
    return model_spec(model).firmware_version


def _build_id(model: str) -> str:
    match = _VERSION_RE.match(model_spec(model).firmware_version)
    return match.group("build") if match and match.group("build") else ""


def version_string(model: str, number: str) -> str:
    """The displayed version, e.g. ``UPS 15.8 (ID1029)``."""
    build = _build_id(model)
    return f"UPS {number} ({build})" if build else f"UPS {number}"


def available_versions(model: str) -> list[str]:
    """Every released version for ``model``'s family, oldest first."""
    family = model_spec(model).firmware_family
    return [version_string(model, number) for number in RELEASES.get(family, ())]


def newest_version(model: str) -> str:
    """The newest released version for ``model`` (its factory version if the family has none)."""
    versions = available_versions(model)
    return versions[-1] if versions else factory_firmware(model)


def version_number(version: str) -> tuple[int, ...]:
    """Sortable number of a version string; ``()`` when it cannot be parsed."""
    match = _VERSION_RE.match(version)
    if not match:
        return ()
    return tuple(int(part) for part in match.group("number").split("."))


def upgrade_target(model: str, current: str, requested: str | None = None) -> str:
    """The version to install, or ValueError with the reason (unknown version, already installed)."""
    versions = available_versions(model)
    if requested is None:
        target = versions[-1] if versions else current
    else:
        matches = [v for v in versions if v == requested or v.split(" ")[1] == requested]
        if not matches:
            raise ValueError(
                f"version {requested!r} is not released for {model}; available: {', '.join(versions)}"
            )
        target = matches[0]
    if target == current:
        raise ValueError(f"{target} is already installed")
    return target
