"""Journey 5: remote control from the device page, and what Basic leaves to the UPS's own LCD.

On Advanced, an outlet-group reboot reaches the simulated device (the group goes off and back on, in
its event log) and the command log shows it done; a firmware upgrade shows its progress and then the
new version. On Basic the same buttons are absent, and the firmware installed from the LCD still shows.
"""

import re

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import assign_license, claim_device, order_licenses, reload_until_visible, sign_up
from e2e.lab_control import LabControl
from e2e.stack import LabStack

NEW_FIRMWARE = re.compile(r"^\s*UPS 15\.8")


def _new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


def test_advanced_reboots_an_outlet_group_and_upgrades_firmware_basic_uses_the_lcd(
    browser: Browser, lab_stack: LabStack, lab_control: LabControl
):
    url = lab_stack.url
    advanced_serial, basic_serial = lab_stack.serials[2], lab_stack.serials[3]
    customer = _new_page(browser)
    sign_up(customer, url, company="Northgate Labs", name="Roisin Walsh", email="roisin@northgate.example")
    device_id = claim_device(customer, url, lab_control, advanced_serial)
    expect(customer.locator("#mode")).to_have_text("On Line", timeout=30_000)

    # A partner orders an Advanced license; the customer assigns it to the device.
    partner = _new_page(browser)
    sign_up(
        partner, url, company="Bright Partners", name="Liam Byrne", email="liam@bright.example", partner=True
    )
    code = order_licenses(partner, url, sku="SCADV1Y", quantity=1, po="PO-ADV-5", customer="Northgate Labs")
    assign_license(customer, url, serial=advanced_serial, code=code)
    customer.goto(f"{url}/devices/{device_id}")
    expect(customer.locator("#plan")).to_have_text("Advanced")

    # Reboot an outlet group, confirming first; the device carries it out.
    lab_control.speed(10)
    customer.get_by_role("link", name=re.compile(r"^Reboot Outlet Group 1")).click()
    expect(customer.get_by_text("Are you sure?")).to_be_visible()
    customer.get_by_role("button", name="Reboot Outlet Group 1 now").click()
    log = customer.locator("#command-log")
    reboot = log.locator("tr", has_text="outlet.group.cycle")
    expect(reboot.get_by_text("done", exact=True)).to_be_visible(timeout=30_000)
    events = customer.locator("#event-log")
    reload_until_visible(
        customer, events.get_by_text(re.compile(r"Outlet Group 1.*turned off due to user control"))
    )
    reload_until_visible(
        customer, events.get_by_text(re.compile(r"Outlet Group 1.*turned on due to user control"))
    )

    # Upgrade the firmware: progress, then the new version.
    customer.get_by_role("button", name=re.compile(r"^Upgrade firmware to ")).click()
    expect(customer.get_by_text(re.compile(r"Firmware upgrade: \d+ %"))).to_be_visible(timeout=20_000)
    upgrade = customer.locator("#command-log tr", has_text="firmware.upgrade")
    expect(upgrade.get_by_text("done", exact=True)).to_be_visible(timeout=60_000)
    reload_until_visible(customer, customer.locator("#firmware", has_text=NEW_FIRMWARE))
    lab_control.speed(1)

    # A second device on its trial; the lab clock moves past the trial's end: it is on Basic.
    device_id = claim_device(customer, url, lab_control, basic_serial)
    try:
        _move_lab_clock(customer, url, days=200)
        customer.goto(f"{url}/devices/{device_id}")
        expect(customer.locator("#plan")).to_have_text("Basic")
        expect(customer.get_by_role("link", name=re.compile(r"^Reboot "))).to_have_count(0)
        expect(customer.get_by_role("button", name=re.compile(r"^Upgrade firmware"))).to_have_count(0)
        expect(
            customer.get_by_text("start the firmware installation from the UPS's own LCD screen")
        ).to_be_visible()

        # The owner installs the firmware from the UPS's own LCD; the portal shows the new version.
        assert lab_control.lcd(basic_serial)["newest_firmware"]
        lab_control.speed(10)
        lab_control.press(basic_serial, "firmware.install")
        reload_until_visible(customer, customer.locator("#firmware", has_text=NEW_FIRMWARE), timeout_s=60)
        assert NEW_FIRMWARE.match(lab_control.lcd(basic_serial)["firmware"])
    finally:
        lab_control.speed(1)
        customer.goto(f"{url}/lab/clock")
        customer.get_by_role("button", name="Back to now").click()
        expect(customer.locator("#lab-offset")).to_have_text("0 days")


def _move_lab_clock(page: Page, url: str, *, days: int) -> None:
    page.goto(f"{url}/lab/clock")
    page.get_by_label("Move by days").fill(str(days))
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#lab-offset")).to_have_text(f"{days} days")
