"""Scenario files: parsing, clear errors, deterministic targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from devicelink.provisioning import manufacture
from simulator.device import SimulatedDevice
from simulator.scenarios import ScenarioError, load_scenario, parse_duration, parse_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "simulator" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path):
    assert load_scenario(path).events


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), ("4y", 4 * 365.25 * 86400)],
)
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[event]]\nkind = "meteor"', "kind must be one of"),
        ('[[event]]\nkind = "blackout"\nat = "soon"', "event 1.at"),
        ('[[event]]\nkind = "blackout"\nshare = 1.5', "share"),
        ('[[event]]\nkind = "blackout"\nshare = 0.5\nserials = ["AS2311123456"]', "not both"),
        ('[[event]]\nkind = "ageing"', "years"),
        ('[[event]]\nkind = "blackout"\ncolour = "red"', "unknown key(s) colour"),
        ("speed = -1", "speed"),
        ("[[event]\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_say_what_is_wrong(text, error):
    with pytest.raises(ScenarioError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_scenario(text)


def test_a_share_is_chosen_by_the_seed():
    scenario = load_scenario("blackout-10pct")
    serials = [d.serial for d in manufacture(200, seed=1)]
    chosen = scenario.targets(0, serials, seed=1)
    assert len(chosen) == 20 and chosen == scenario.targets(0, serials, seed=1)
    assert chosen != scenario.targets(0, serials, seed=2)


def test_applied_scenario_changes_the_chosen_devices_only():
    identities = manufacture(10, seed=1)
    devices = [SimulatedDevice(i, seed=1, sim_start_s=0.0) for i in identities]
    text = f'[[event]]\nat = "1m"\nkind = "blackout"\nduration = "10m"\nserials = ["{identities[0].serial}"]'
    parse_scenario(text).apply(devices, 0.0, seed=1)
    for device in devices:
        device.advance_to(300.0)
    on_battery = [d.serial for d in devices if d.state.on_battery]
    assert on_battery == [identities[0].serial]
