"""Journey 7: what one company owns stays its own.

A customer claims a device and shares nothing. A second customer and an unrelated partner see none of
it: not on their pages, not in their reports, and not by typing the device's addresses themselves.
"""

import re

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import claim_device, sign_up
from e2e.lab_control import LabControl
from e2e.stack import LabStack

NOT_FOUND = "No such device in your account."
# Every address of a device a visitor could guess once the device id is known.
DEVICE_PAGES = ("", "/sharing", "/live", "/events", "/command-log", "/history.json", "/outlet-reboot")


def _new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


def _sees_nothing_of(page: Page, url: str, device_id: int, serial: str) -> None:
    # Typing the device page address: the same "not found" as for a device that does not exist.
    page.goto(f"{url}/devices/{device_id}")
    expect(page.get_by_text(NOT_FOUND)).to_be_visible()
    expect(page.get_by_text(serial)).to_have_count(0)
    page.goto(f"{url}/devices/{device_id + 1000}")
    expect(page.get_by_text(NOT_FOUND)).to_be_visible()
    for suffix in DEVICE_PAGES:
        response = page.request.get(f"{url}/devices/{device_id}{suffix}", max_redirects=0)
        assert response.status == 404, f"/devices/{device_id}{suffix} answered {response.status}"
        assert serial not in response.text()
    # Reports, also when asking for another company's by number.
    for report in ("inventory", "renewals"):
        response = page.request.get(f"{url}/reports/{report}.csv")
        assert response.ok and serial not in response.text()
        for customer in range(1, 8):
            response = page.request.get(f"{url}/reports/{report}.csv?customer={customer}")
            assert response.status == 404 or serial not in response.text(), (
                f"{report} for customer {customer}"
            )


def test_another_customer_and_an_unrelated_partner_see_none_of_it(
    browser: Browser, lab_stack: LabStack, lab_control: LabControl
):
    url = lab_stack.url
    serial = lab_stack.serials[4]
    owner = _new_page(browser)
    sign_up(owner, url, company="Lighthouse Clinics", name="Maeve Doyle", email="maeve@lighthouse.example")
    device_id = claim_device(owner, url, lab_control, serial)
    expect(owner.get_by_role("heading", name=re.compile(serial + "|SM")).first).to_be_visible()

    other = _new_page(browser)
    sign_up(other, url, company="Dockside Storage", name="Eoin Farrell", email="eoin@dockside.example")
    expect(other.get_by_text(serial)).to_have_count(0)
    other.get_by_role("searchbox").fill(serial)
    expect(other.get_by_text("No device matches these filters.")).to_be_visible()
    _sees_nothing_of(other, url, device_id, serial)

    partner = _new_page(browser)
    sign_up(
        partner,
        url,
        company="Unrelated Partners",
        name="Cian Moran",
        email="cian@unrelated.example",
        partner=True,
    )
    expect(partner.get_by_text(serial)).to_have_count(0)
    partner.get_by_role("link", name="Shared With Me").first.click()
    expect(partner.get_by_text(serial)).to_have_count(0)
    expect(partner.get_by_text("Lighthouse Clinics")).to_have_count(0)
    partner.goto(f"{url}/partner/assign?device={device_id}")
    expect(partner.get_by_text(serial)).to_have_count(0)
    _sees_nothing_of(partner, url, device_id, serial)

    # Someone else cannot claim it either, even with the code read off its display.
    code = lab_control.lcd(serial)["registration_code"]
    other.goto(f"{url}/devices/claim")
    other.get_by_label("Serial number").fill(serial)
    other.get_by_label("Registration code").fill(code)
    other.get_by_role("button", name="Claim device").click()
    expect(other).to_have_url(re.compile(r"/devices/claim$"))
    other.goto(f"{url}/dashboard")
    expect(other.get_by_text(serial)).to_have_count(0)

    # The owner still has it.
    owner.goto(f"{url}/dashboard")
    expect(owner.locator(f'tr[data-serial="{serial}"]')).to_be_visible()
