"""The layers stay visible: read every module's imports (an AST scan, nothing is imported) and check the rules.

- The product never imports its test lab: nothing under `portal/`, `catalog/` or `devicelink/` imports `simulator`.
- Services never import a view, a form or the request.
- Service packages only import packages below them (docs/architecture.md), so there is no cycle between them.
- The pure rules stay pure: no database, no Flask.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "portal" / "services"
KERNEL = "kernel"  # errors, clock, calendar_dates: the modules at the top of portal/services
# Lowest first; a package may import from itself, the kernel and the packages before it.
LAYERS = ["outbox", "accounts", "api", "licensing", "fleet", "reports", "partners", "alerts", "battery", "lab"]
PURE = [
    "portal/services/licensing/plans.py",
    "portal/services/licensing/products.py",
    "portal/services/licensing/promotions.py",
    "portal/services/licensing/activation_codes.py",
    "portal/services/licensing/subscription_timeline.py",
    "portal/services/fleet/operating_modes.py",
    "portal/services/alerts/event_types.py",
    "portal/services/fleet/battery_life.py",
    "portal/services/fleet/firmware.py",
    "portal/services/fleet/occurrences.py",
    "portal/services/battery/episodes.py",
    "portal/services/battery/capacity.py",
    "portal/services/battery/estimate.py",
    "portal/services/battery/chart.py",
    "portal/services/calendar_dates.py",
    "portal/services/partners/bounded_xlsx.py",
    "simulator/ups_model.py",
    "catalog/ups_models.py",
    "catalog/firmware.py",
    "catalog/__init__.py",
]


def _imports(path: Path) -> set[str]:
    """Every module name the file imports, at any depth (lazy imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def _package_of(name: str) -> str | None:
    """The service package a dotted name belongs to, KERNEL for the top-level modules, None outside services."""
    parts = name.split(".")
    if parts[:2] != ["portal", "services"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in LAYERS else KERNEL


@pytest.mark.parametrize("path", _modules("portal", "catalog", "devicelink"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_never_imports_the_lab(path):
    lab = sorted(name for name in _imports(path) if name == "simulator" or name.startswith("simulator."))
    assert not lab, f"{path.relative_to(ROOT)} imports {lab}"


@pytest.mark.parametrize("path", _modules("portal/services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_services_never_import_views_forms_or_the_request(path):
    names = _imports(path)
    bad = sorted(n for n in names if n.startswith(("portal.views", "portal.forms")) or n == "flask.request")
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", _modules("portal/services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_service_packages_import_only_downwards(path):
    own = _package_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    allowed = {KERNEL} if own == KERNEL else {KERNEL, *LAYERS[: LAYERS.index(own) + 1]}
    upward = sorted(
        name for name in _imports(path) if (package := _package_of(name)) is not None and package not in allowed
    )
    assert not upward, f"{path.relative_to(ROOT)} ({own}) imports from a higher layer: {upward}"


def test_every_service_package_is_placed_in_a_layer():
    packages = {p.name for p in SERVICES.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


def _source_file(module: str) -> str:
    path = ROOT / Path(*module.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


@pytest.mark.parametrize("relative", PURE)
def test_pure_rules_need_no_database_and_no_flask(relative):
    """A pure rule imports the standard library, other pure rules and the domain errors: nothing else of ours."""
    tree = ast.parse((ROOT / relative).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    ours = {"flask", "sqlalchemy", "paho", "portal", "devicelink", "simulator", "catalog"}
    impure = sorted(
        m for m in modules
        if m.split(".")[0] in ours and _source_file(m) not in PURE and m != "portal.services.errors"
    )
    assert not impure, f"{relative} imports {impure}"
