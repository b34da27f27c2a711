"""Journey: QA drives the device lab from the browser, not with curl.

A company administrator opens Lab › Console, adds two devices (their claim codes shown), claims one,
cuts the power of a selection from the console and watches the dashboard tiles and the device page
change without reloading, stops the power cut, moves the lab clock (and the fleet) a year forward, runs
the maintenance job, and finds the outage history intact and the renewal banner on the device page, the
dashboard and the Subscription Overview.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import capture, sign_up, start_stack
from e2e.stack import LabStack


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory):
    with start_stack(tmp_path_factory, "console-stack", devices=3, seed=3131) as stack:
        yield stack


def test_lab_console_drives_the_fleet_and_time_travel_keeps_history(browser: Browser, console_stack: LabStack):
    url = console_stack.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    console = context.new_page()
    sign_up(console, url, company="Quality Lab", name="Ines Moreau", email="ines@qualitylab.example")

    # The fleet at a glance.
    console.goto(f"{url}/lab/console")
    expect(console.get_by_role("heading", name="Lab console")).to_be_visible()
    expect(console.locator("#fleet-count")).to_have_text("3 devices, 3 connected", timeout=30_000)

    # Add two devices; the console names them with their claim codes.
    console.get_by_label("Model").select_option("SMT1500C")
    console.get_by_label("How many").fill("2")
    console.get_by_label("Seed").fill("77")
    console.get_by_role("button", name="Add devices").click()
    added = console.locator(".flash-success").inner_text()
    pairs = re.findall(r"(\w{12}) \(SMT1500C\) claim code ([\w-]+)", added)
    assert len(pairs) == 2, added
    expect(console.locator("#fleet-count")).to_have_text("5 devices, 5 connected", timeout=30_000)
    (serial, code), (other, _) = pairs

    # Claim one of them with the code the console showed.
    page = context.new_page()
    page.goto(f"{url}/devices/claim")
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Registration code").fill(code)
    page.get_by_role("button", name="Claim device").click()
    expect(page).to_have_url(re.compile(r"/devices/\d+$"), timeout=15_000)
    device_url = page.url
    mode = page.locator("#mode")
    expect(mode).to_have_text("On Line", timeout=30_000)
    dashboard = context.new_page()
    dashboard.goto(f"{url}/dashboard")
    on_battery_tile = dashboard.locator('.tile[data-mode="on_battery"] .tile-count')
    expect(on_battery_tile).to_have_text("0")

    # Cut the power of the two new devices from the console.
    console.locator(f"#pick-{serial}").check()
    console.locator(f"#pick-{other}").check()
    console.get_by_role("button", name="Cut power").click()
    expect(console.locator(".flash-success")).to_have_text("Started “Power cut” on 2 devices.")
    run = console.locator("#runs li").first
    expect(run).to_have_attribute("data-state", "running")
    # The device page and the dashboard tiles follow by themselves, without a reload.
    expect(mode).to_have_text("On Battery", timeout=30_000)
    expect(on_battery_tile).to_have_text("1", timeout=30_000)
    # The live panel shows what the device publishes.
    console.locator(f'tr[data-serial="{serial}"]').get_by_role("button", name="Live").click()
    expect(console.locator("#live-panel")).to_contain_text("OB", timeout=15_000)
    capture(console, "lab-console")

    # Stop the scenario: power is back.
    run.get_by_role("button", name="Stop").click()
    expect(console.locator("#runs li").first).to_have_attribute("data-state", "stopped")
    expect(mode).to_have_text("On Line", timeout=30_000)
    expect(on_battery_tile).to_have_text("0", timeout=30_000)

    # A year forward: the lab clock and the fleet move together, and maintenance deletes nothing.
    console.get_by_role("button", name="+365 days").click()
    expect(console.locator(".flash-success")).to_contain_text("The simulated fleet moved with it.")
    maintenance = console_stack.flask("maintenance").stdout
    assert "Purged 0 event(s)" in maintenance, maintenance
    page.goto(device_url)
    expect(mode).not_to_have_text("Offline", timeout=30_000)  # the device still reports, now in lab time

    # A year on, the trial is long over: the one renewal rule shows the same banner on all three pages.
    for path in (device_url, f"{url}/dashboard", f"{url}/subscriptions"):
        page.goto(path)
        expect(page.locator('.banner[data-kind="on_basic"]')).to_be_visible()

    # The outage report over the whole year (the lab clock started at the real date) still has the power cut.
    first_day = datetime.now(UTC).date()
    page.goto(f"{url}/reports/outages?start={first_day}&end={first_day + timedelta(days=365)}")
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row).to_be_visible()
    expect(row.locator("td.num").first).to_have_text("1")
    context.close()
