"""Journey: a customer names a device, gives a selection one site, and relabels the fleet from a CSV.

The module runs its own portal (no broker, no fleet): three devices that have reached upsconnect are
written to its SQLite file, the customer claims them with the codes their displays would show, then
labels them from the device page, the Names and sites page and a CSV file (preview, a refused file,
apply). The dashboard's Site filter and MyInventory show the result.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from devicelink.provisioning import claim_code
from e2e.conftest import Portal, sign_up

FACTORY_KEY = b"e2e-factory-key"
SERIALS = ("AS2611950001", "AS2611950002", "AS2611950003")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def naming_portal(tmp_path_factory):
    server = Portal(tmp_path_factory.mktemp("naming-portal"))
    server.start()
    engine = sa.create_engine(server.env["UPSCONNECT_DATABASE_URL"])
    with engine.begin() as conn:
        for serial in SERIALS:
            conn.execute(
                sa.text(
                    "INSERT INTO devices (serial, model, firmware, battery_type, outlet_groups, name, site, location,"
                    " first_seen_at) VALUES (:serial, 'SMT1500C', 'UPS 09.8 (ID18)', 'lead-acid',"
                    " '[\"Main Outlets\", \"Outlet Group 1\"]', '', '', '', :now)"
                ),
                {"serial": serial, "now": datetime.now(UTC).replace(tzinfo=None)},
            )
    engine.dispose()
    yield server
    server.stop()


def _claim(page: Page, url: str, serial: str) -> int:
    page.goto(f"{url}/devices/claim")
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Registration code").fill(claim_code(FACTORY_KEY, serial))
    page.get_by_role("button", name="Claim device").click()
    expect(page).to_have_url(re.compile(r"/devices/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _shoot(page: Page, name: str) -> None:
    if os.environ.get("UPSCONNECT_SCREENSHOTS") == "1":  # for the docs, on request only
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def test_name_devices_bulk_site_and_csv(page: Page, naming_portal, tmp_path):
    url = naming_portal.url
    sign_up(page, url, company="Harbour Data Centre", name="Ada Martin", email="ada@harbour.example")
    ids = [_claim(page, url, serial) for serial in SERIALS]

    # One device, from its page.
    page.goto(f"{url}/devices/{ids[0]}")
    page.get_by_role("link", name="Name and site").click()
    page.get_by_label("Name").fill("Rack 4 UPS")
    page.get_by_label("Location").fill("Room 2")
    page.get_by_label("Site").fill("Harbour DC")
    _shoot(page, "device-name")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Rack 4 UPS")).to_be_visible()
    expect(page.locator("#device-labels")).to_contain_text("Harbour DC · Room 2")

    # A name too long is refused with the reason, and nothing changes.
    page.get_by_role("link", name="Name and site").click()
    page.get_by_label("Name").fill("x" * 121)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The name is 121 characters long; the most is 120.")).to_be_visible()

    # A selection gets one site.
    page.goto(f"{url}/dashboard")
    page.get_by_role("link", name="Names and sites").click()
    page.get_by_label(f"Select {SERIALS[1]}").check()
    page.get_by_label(f"Select {SERIALS[2]}").check()
    page.locator("#bulk-form").get_by_label("Site").fill("Lyon DC")
    page.get_by_role("button", name="Set site for selected").click()
    expect(page.get_by_text("2 devices updated.")).to_be_visible()
    for serial in SERIALS[1:]:
        expect(page.locator(f'#label-table tr[data-serial="{serial}"]')).to_contain_text("Lyon DC")

    # A CSV with a bad line is refused whole, with the line named.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"serial,name,site\n{SERIALS[1]},Lyon A,Lyon DC\nAS0000000000,Ghost,Nowhere\n")
    page.get_by_label("CSV file (serial,name,site)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#csv-errors")).to_contain_text("Line 3: no device with serial AS0000000000 in your account.")
    expect(page.get_by_role("button", name="Apply these changes")).to_have_count(0)

    # A good CSV: preview first (nothing stored), then apply.
    good = tmp_path / "names.csv"
    good.write_text(
        f"serial,name,site,location\n{SERIALS[1]},Lyon A,Lyon DC,Cage 1\n{SERIALS[2]},Lyon B,,Cage 2\n",
        encoding="utf-8",
    )
    page.get_by_label("CSV file (serial,name,site)").set_input_files(str(good))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Preview: 2 devices will change")).to_be_visible()
    _shoot(page, "names-and-sites")
    expect(page.locator(f'#label-table tr[data-serial="{SERIALS[1]}"]')).not_to_contain_text("Lyon A")
    page.get_by_role("button", name="Apply these changes").click()
    expect(page.get_by_text("2 devices updated from the CSV.")).to_be_visible()
    expect(page.locator(f'#label-table tr[data-serial="{SERIALS[2]}"]')).to_contain_text("Lyon B")
    expect(page.locator(f'#label-table tr[data-serial="{SERIALS[2]}"]')).to_contain_text("Cage 2")

    # The dashboard's Site filter offers both sites and filters by them.
    page.goto(f"{url}/dashboard")
    page.get_by_label("Site").select_option("Lyon DC")
    expect(page.locator("#device-count")).to_have_text(re.compile(r"^2 devices match the filters"))
    expect(page.locator("#device-table")).to_contain_text("Lyon A")
    expect(page.locator("#device-table")).not_to_contain_text("Rack 4 UPS")

    # Phones: the menu folds behind a Menu button; the Subscription Overview shows one card per device.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/subscriptions")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    page.locator("summary.menu-button").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    page.locator("summary.menu-button").click()
    expect(page.locator("table.cards thead")).to_be_hidden()
    card = page.locator(f'table.cards tr[data-serial="{SERIALS[1]}"]').bounding_box()
    assert card and card["x"] >= 0 and card["x"] + card["width"] <= 390, card
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shoot_phone(page, "subscriptions-390")
    page.goto(f"{url}/dashboard")
    _shoot_phone(page, "dashboard-menu-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    nav = page.locator("nav[aria-label=Main] ul").bounding_box()
    assert nav and nav["height"] < 45, nav  # one line


def _shoot_phone(page: Page, name: str) -> None:
    if os.environ.get("UPSCONNECT_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_renewal_banners_and_outlets_on_the_device_page(page: Page, naming_portal):
    """160 days on, the trial is ending: the device page says so, as the dashboard and overview do."""
    url = naming_portal.url
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill("ada@harbour.example")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{url}/lab/clock")
    page.get_by_label("Move by days").fill("160")
    page.get_by_role("button", name="Move", exact=True).click()
    for path in ("/dashboard", "/subscriptions"):
        page.goto(f"{url}{path}")
        expect(page.locator("#banners")).to_contain_text("Trial ending: 3 devices will drop to the Basic plan within 30 days.")
    _shoot(page, "subscriptions-banners")
    page.goto(f"{url}/dashboard")
    page.get_by_role("link", name="Rack 4 UPS").click()
    expect(page.locator("#banners")).to_contain_text("Trial ending: This device's Standard trial ends on")
    expect(page.locator("#banners")).to_contain_text("Renewal due: This device's subscription ends on")
    _shoot(page, "device-banners")
    device_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{url}/subscriptions/buy?device={device_id}&sku-{device_id}=SCADV1Y")
    expect(page.locator("p.promotion")).to_contain_text(re.compile(r"[Rr]uns \d+ months"))  # free months only inside a window
    _shoot(page, "buy-promotion")
    page.goto(f"{url}/dashboard")
    _shoot(page, "dashboard-banners")
