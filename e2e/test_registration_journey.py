"""Journey 1: the fleet is running; a customer signs up, reads the code off a device's LCD and claims it.

The dashboard then shows the device on line with live values and a 6-month Standard trial.
"""

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from e2e.conftest import claim_device, sign_up
from e2e.lab_control import LabControl
from e2e.stack import LabStack
from portal.services.calendar_dates import add_months


def test_customer_claims_a_device_from_its_lcd_and_sees_it_live(
    page: Page, lab_stack: LabStack, lab_control: LabControl
):
    serial = lab_stack.serials[0]
    url = lab_stack.url

    # The simulated device is up and shows its registration code on the LCD.
    lcd = lab_control.lcd(serial)
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", lcd["registration_code"]), lcd

    sign_up(page, url, company="Quayside Hosting", name="Aoife Keane", email="aoife@quayside.example")
    expect(page.get_by_text("No devices yet.")).to_be_visible()

    claim_device(page, url, lab_control, serial)
    expect(page.get_by_text(f"{serial} is now registered to Quayside Hosting.")).to_be_visible()
    expect(page.get_by_text("Its 6-month Standard trial has started.")).to_be_visible()

    # The dashboard lists it on line, with live load and charge, on a Standard trial ending in 6 months.
    page.get_by_role("link", name="Dashboard", exact=True).first.click()
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row).to_be_visible()
    expect(row.get_by_text("On Line")).to_be_visible(timeout=30_000)
    expect(row.locator("td.num").nth(0)).to_have_text(re.compile(r"^\d+ %$"), timeout=30_000)  # load
    expect(row.locator("td.num").nth(1)).to_have_text(re.compile(r"^\d+ %$"))  # charge
    expect(row.get_by_text("Standard", exact=True)).to_be_visible()
    trial_end = add_months(datetime.now(UTC).date(), 6)  # the lab clock starts at the real date
    expect(row).to_contain_text(f"{trial_end:%d %b %Y}")
