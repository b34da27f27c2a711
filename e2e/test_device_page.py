"""Journey: a customer claims a UPS with a few hours of history and reads its device page.

The module runs its own portal (no broker, no fleet) and writes the device's history straight into the
portal's SQLite file, so the page shows known data: several hours of samples with an outage, events
and a firmware upgrade under way.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from devicelink.provisioning import claim_code
from e2e.conftest import Portal, claim_with_code, sign_up
from portal.models import DeviceCommand, DeviceEvent, DeviceStatus, TelemetrySample

FACTORY_KEY = b"e2e-factory-key"
SERIAL = "AS2611900001"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def device_portal(tmp_path_factory):
    server = Portal(tmp_path_factory.mktemp("device-page-portal"))
    server.start()
    _insert_device(server)
    yield server
    server.stop()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert_device(server: Portal) -> None:
    """An SMT1500C with 8 hours of one-minute samples and a 20-minute outage an hour ago."""
    engine = sa.create_engine(server.env["UPSCONNECT_DATABASE_URL"])
    now = _now().replace(microsecond=0)
    outage_start, outage_end = now - timedelta(minutes=80), now - timedelta(minutes=60)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO devices (serial, model, firmware, battery_type, outlet_groups, name, site, first_seen_at,"
                " battery_installed_on, warranty_ends_on)"
                " VALUES (:serial, 'SMT1500C', 'UPS 09.0 (ID18)', 'lead-acid', '[\"Main Outlets\", \"Outlet Group 1\"]',"
                " 'Server room UPS', 'Grenoble HQ', :now, '2025-03-01', '2028-03-01')"
            ),
            {"serial": SERIAL, "now": now},
        )
        device_id = conn.execute(
            sa.text("SELECT id FROM devices WHERE serial = :s"), {"s": SERIAL}
        ).scalar_one()
        rows, charge, seq = [], 100.0, 0
        for minute in range(8 * 60, -1, -1):
            ts = now - timedelta(minutes=minute)
            on_battery = outage_start <= ts < outage_end
            load = 38 + 6 * math.sin(minute / 40) + (minute % 7) * 0.4
            charge = max(20.0, charge - 2.6) if on_battery else min(100.0, charge + 0.5)
            rows.append(
                {
                    "device_id": device_id,
                    "seq": seq,
                    "ts": ts,
                    "ups_status": "OB DISCHRG" if on_battery else "OL",
                    "load_percent": round(load, 1),
                    "charge_percent": round(charge, 1),
                    "runtime_s": 1500 * charge / 100,
                    "input_voltage_v": 0.0 if on_battery else round(231 + 2 * math.sin(minute / 13), 1),
                    "output_voltage_v": 230.0,
                    "input_frequency_hz": 0.0 if on_battery else 50.0,
                    "temperature_c": round(28 + 2 * math.sin(minute / 90) + (1.5 if on_battery else 0), 1),
                }
            )
            seq += 1
        conn.execute(sa.insert(TelemetrySample.__table__), rows)
        last = rows[-1]
        conn.execute(
            sa.insert(DeviceStatus.__table__),
            {
                "device_id": device_id,
                "online": True,
                "state_changed_at": now,
                "last_seen_at": now,
                "last_telemetry_at": now,
                "last_seq": seq - 1,
                "ups_status": "OL CHRG",
                "variables": {
                    "ups.status": "OL CHRG",
                    "ups.load": last["load_percent"],
                    "battery.charge": last["charge_percent"],
                    "battery.runtime": last["runtime_s"],
                    "input.voltage": last["input_voltage_v"],
                    "output.voltage": 230.0,
                    "input.frequency": 50.0,
                    "ups.temperature": last["temperature_c"],
                    "input.sensitivity": "normal",
                },
            },
        )
        events = [
            (
                outage_start,
                "warning",
                "0x0109",
                "UPS: On battery power in response to an input power problem.",
            ),
            (
                outage_start + timedelta(minutes=15),
                "critical",
                "0x010F",
                "UPS: The battery power is too low to continue to support the load; the UPS will shut down if input power does not return to normal soon.",
            ),
            (
                outage_end - timedelta(minutes=1),
                "informational",
                "0x0110",
                "UPS: A low battery condition no longer exists.",
            ),
            (outage_end, "informational", "0x010A", "UPS: No longer on battery power."),
        ]
        conn.execute(
            sa.insert(DeviceEvent.__table__),
            [
                {"device_id": device_id, "seq": n, "ts": ts, "severity": sev, "code": code, "text": text}
                for n, (ts, sev, code, text) in enumerate(events)
            ],
        )
    engine.dispose()


def _add_commands(server: Portal) -> None:
    """A self-test that passed (and the events it caused) and a firmware upgrade at 45 %."""
    engine = sa.create_engine(server.env["UPSCONNECT_DATABASE_URL"])
    now = _now().replace(microsecond=0)
    with engine.begin() as conn:
        device_id = conn.execute(
            sa.text("SELECT id FROM devices WHERE serial = :s"), {"s": SERIAL}
        ).scalar_one()
        user_id = conn.execute(sa.text("SELECT id FROM users ORDER BY id DESC LIMIT 1")).scalar_one()
        test_id = str(uuid.uuid4())
        conn.execute(
            sa.insert(DeviceCommand.__table__),
            [
                {
                    "id": test_id,
                    "device_id": device_id,
                    "type": "test.battery.start",
                    "args": {},
                    "issued_by_user_id": user_id,
                    "issued_at": now - timedelta(minutes=30),
                    "status": "done",
                    "progress_percent": 100,
                    "message": "Self-test passed.",
                    "updated_at": now - timedelta(minutes=29),
                },
                {
                    "id": str(uuid.uuid4()),
                    "device_id": device_id,
                    "type": "firmware.upgrade",
                    "args": {"version": "UPS 09.8 (ID18)"},
                    "issued_by_user_id": user_id,
                    "issued_at": now - timedelta(minutes=2),
                    "status": "progress",
                    "progress_percent": 45,
                    "message": "Writing the new firmware.",
                    "updated_at": now,
                },
            ],
        )
        conn.execute(
            sa.insert(DeviceEvent.__table__),
            [
                {
                    "device_id": device_id,
                    "seq": 10,
                    "ts": now - timedelta(minutes=30),
                    "severity": "informational",
                    "code": "0x0137",
                    "text": "UPS: Self-Test started by management device.",
                    "caused_by_command_id": test_id,
                },
                {
                    "device_id": device_id,
                    "seq": 11,
                    "ts": now - timedelta(minutes=29),
                    "severity": "informational",
                    "code": "0x0105",
                    "text": "UPS: Self-Test passed.",
                    "caused_by_command_id": test_id,
                },
            ],
        )
    engine.dispose()


def _sign_up_and_claim(page: Page, url: str) -> int:
    sign_up(page, url, company="Alpine Data Centre", name="Claire Martin", email="claire@alpine-dc.example",
            country="France")  # fmt: skip
    return claim_with_code(page, SERIAL, claim_code(FACTORY_KEY, SERIAL), url)


def test_device_page_charts_actions_and_logs(page: Page, device_portal: Portal):
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))

    device_id = _sign_up_and_claim(page, device_portal.url)
    _add_commands(device_portal)
    page.goto(f"{device_portal.url}/devices/{device_id}")

    expect(page.locator("#mode")).to_have_text("On Line")
    expect(page.locator("#runtime")).to_contain_text("min estimated runtime")
    # Four uPlot charts drawn from history.json.
    expect(page.locator("#charts canvas")).to_have_count(4)
    expect(page.locator(".charts-fallback")).to_be_hidden()
    expect(page.locator("#charts .u-legend").first).to_contain_text("Load")
    # The trial (Standard) allows the self-test; the reboot names the Advanced plan.
    expect(page.get_by_role("button", name="Start self-test")).to_be_visible()
    expect(page.get_by_text("Remote outlet-group reboot needs the Advanced plan")).to_be_visible()
    # A firmware upgrade under way shows its progress and the command log keeps polling.
    expect(page.locator("#firmware-progress")).to_have_attribute("value", "45")
    expect(page.locator("#command-log")).to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator("#event-log")).to_contain_text("started by you")
    expect(page.get_by_role("link", name="Share this device")).to_be_visible()

    # Range switch: 1 h draws fewer points, the button says it is pressed.
    with page.expect_response(lambda r: "history.json?range=1h" in r.url) as response:
        page.get_by_role("button", name="1h", exact=True).click()
    data = response.value.json()
    assert data["range"] == "1h" and 55 <= len(data["x"]) <= 61
    expect(page.get_by_role("button", name="1h", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#charts canvas")).to_have_count(4)
    with page.expect_response(lambda r: "range=7d" in r.url):
        page.get_by_role("button", name="7d", exact=True).click()
    expect(page.locator("#charts canvas")).to_have_count(4)

    # Filter the event log by severity through its partial.
    page.get_by_label("Severity").select_option("critical")
    expect(page.locator("#event-log")).to_contain_text("0x010F")
    expect(page.locator("#event-log")).not_to_contain_text("0x010A")

    # Live status polls without a reload.
    with page.expect_response(lambda r: r.url.endswith(f"/devices/{device_id}/live"), timeout=8_000):
        pass

    page.get_by_role("button", name="24h", exact=True).click()
    page.get_by_label("Severity").select_option("")
    expect(page.locator("#event-log")).to_contain_text("0x010A")
    keep_screenshots = os.environ.get("UPSCONNECT_SCREENSHOTS") == "1"  # for the README, on request only
    if keep_screenshots:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / "device-desktop.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 1600},
        )
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#charts canvas")).to_have_count(4)
    if keep_screenshots:
        page.screenshot(
            path=str(SCREENSHOTS / "device-phone.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 390, "height": 1900},
        )
    # Nothing overflows the phone width.
    wide = page.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 391)"
        ".map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not problems, problems
