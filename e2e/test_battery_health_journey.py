"""Journey: a customer whose UPS went through four outages over four months reads its battery health.

The module runs its own portal (no broker, no fleet) and writes the outages' telemetry, made by the
simulator's physics with a battery losing capacity, straight into the portal's SQLite file; then the
scheduled `flask battery` pass records the discharges, and the pages show what it measured.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from devicelink.provisioning import claim_code
from e2e.conftest import Portal, claim_with_code, sign_up
from portal.models import DeviceStatus, TelemetrySample
from tests.battery.discharge_lab import discharge_telemetry

FACTORY_KEY = b"e2e-factory-key"
SERIAL = "AS2611900014"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CAPACITIES = (0.86, 0.8, 0.75, 0.69)  # one outage every 35 days, the battery fading


@pytest.fixture(scope="module")
def battery_portal(tmp_path_factory):
    server = Portal(tmp_path_factory.mktemp("battery-portal"))
    server.start()
    _insert_device(server)
    yield server
    server.stop()


def _insert_device(server: Portal) -> None:
    engine = sa.create_engine(server.env["UPSCONNECT_DATABASE_URL"])
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO devices (serial, model, firmware, battery_type, outlet_groups, name, site, first_seen_at,"
                " battery_installed_on, warranty_ends_on)"
                " VALUES (:serial, 'SMT1500C', 'UPS 15.5 (ID1029)', 'lead-acid', '[\"Main Outlets\", \"Outlet Group 1\"]',"
                " 'Server room UPS', 'Grenoble HQ', :now, '2024-03-01', '2028-03-01')"
            ),
            {"serial": SERIAL, "now": now},
        )
        device_id = conn.execute(sa.text("SELECT id FROM devices WHERE serial = :s"), {"s": SERIAL}).scalar_one()
        rows, seq = [], 0
        for i, capacity in enumerate(CAPACITIES):
            start = now - timedelta(days=35 * (len(CAPACITIES) - i))
            for ts, variables in discharge_telemetry(
                "SMT1500C", capacity=capacity, load_percent=45, minutes=8, start_s=start.replace(tzinfo=UTC).timestamp(),
                firmware_capacity=CAPACITIES[0],
            ):
                rows.append({
                    "device_id": device_id, "seq": seq, "ts": datetime.fromtimestamp(ts, UTC).replace(tzinfo=None),
                    "ups_status": variables["ups.status"], "load_percent": variables["ups.load"],
                    "charge_percent": variables["battery.charge"], "runtime_s": variables["battery.runtime"],
                    "input_voltage_v": variables["input.voltage"], "output_voltage_v": variables["output.voltage"],
                    "input_frequency_hz": variables["input.frequency"], "temperature_c": variables["ups.temperature"],
                })  # fmt: skip
                seq += 1
        conn.execute(sa.insert(TelemetrySample.__table__), rows)
        conn.execute(
            sa.insert(DeviceStatus.__table__),
            {
                "device_id": device_id, "online": True, "state_changed_at": now, "last_seen_at": now,
                "last_telemetry_at": now, "last_seq": seq, "ups_status": "OL",
                "variables": {"ups.status": "OL", "ups.load": 45.0, "battery.charge": 100.0, "ups.temperature": 33.0},
            },
        )  # fmt: skip
    engine.dispose()


def _sign_up_and_claim(page: Page, url: str) -> int:
    sign_up(page, url, company="Alpine Data Centre", name="Claire Martin", email="claire@alpine-dc.example",
            country="France")  # fmt: skip
    return claim_with_code(page, SERIAL, claim_code(FACTORY_KEY, SERIAL), url)


def test_battery_health_from_four_outages(page: Page, battery_portal: Portal):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    device_id = _sign_up_and_claim(page, battery_portal.url)
    section = page.locator("#battery-health")
    expect(section.locator("#battery-health-figure")).to_have_text("Not enough data yet")

    output = battery_portal.flask("battery").stdout
    assert "Recorded 4 discharge(s) on 1 device(s)" in output
    page.goto(f"{battery_portal.url}/devices/{device_id}")
    figure = section.locator("#battery-health-figure")
    expect(figure).to_have_text(re.compile(r"^\d+ %$"))
    assert 66 <= int(figure.inner_text().split()[0]) <= 76
    expect(section.locator("#battery-replace-predicted")).to_contain_text("Where the trend reaches the replace limit.")
    expect(section.locator("#battery-runtime-accuracy")).to_contain_text("more than it delivered")
    expect(section.locator("svg.health-chart circle")).to_have_count(4)
    expect(section.locator("#battery-evidence tbody tr")).to_have_count(4)
    if os.environ.get("UPSCONNECT_SCREENSHOTS"):
        section.screenshot(path=str(SCREENSHOTS / "battery-device-1280.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        section.screenshot(path=str(SCREENSHOTS / "battery-device-390.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Battery health").click()
    expect(page.get_by_role("heading", name="Battery health", level=1)).to_be_visible()
    row = page.locator("#battery-fleet tbody tr").first
    expect(row).to_contain_text(SERIAL)
    expect(row).to_contain_text("%")
    if os.environ.get("UPSCONNECT_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / "battery-fleet-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SCREENSHOTS / "battery-fleet-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    # A new battery goes into the logbook: the figure starts again, the old discharges stay as evidence.
    page.goto(f"{battery_portal.url}/devices/{device_id}")
    page.get_by_label("Cartridge SKU").fill("apcrbc7")
    page.get_by_role("button", name="Record replacement").click()
    expect(page.locator("#battery-replace-predicted")).to_be_visible()
    expect(section.locator("#battery-health-figure")).to_have_text(re.compile(r"\d+ %"))  # nothing changed
    expect(section.locator("#replaced_on-errors")).to_contain_text("Enter the day the battery was replaced.")
    problems[:] = [p for p in problems if "422" not in p]  # the refused form answers 422, on purpose
    page.get_by_label("Replaced on").fill(datetime.now(UTC).date().isoformat())
    page.get_by_label("Note (optional)").fill("Swapped during the Monday window")
    page.get_by_role("button", name="Record replacement").click()
    expect(section.locator("#battery-health-figure")).to_have_text("Not enough data yet")
    expect(section.locator("#battery-replacements")).to_contain_text("APCRBC7")
    expect(section.locator("#battery-evidence")).to_contain_text("previous battery")
    if os.environ.get("UPSCONNECT_SCREENSHOTS"):
        section.screenshot(path=str(SCREENSHOTS / "battery-logbook-1280.png"))
    assert not problems, problems
