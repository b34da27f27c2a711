"""Journey: a partner that runs a site claims its UPS, then hands the site over: it offers the device to the
customer's administrator, who accepts on the Transfers page; the device, its trial dates and its history move,
and the partner no longer reaches it.

With UPSCONNECT_SCREENSHOTS=<folder> the offer form, the incoming offers page and the sender's record are captured at 390 and
1280 px wide (docs/screenshots/transfer-*.png come from here).
"""

import re

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import capture, claim_device, sign_up, start_stack
from e2e.lab_control import LabControl
from e2e.stack import LabStack


@pytest.fixture(scope="module")
def transfer_stack(tmp_path_factory):
    """A fleet of its own: the journey gives its one device away, which no shared-stack journey expects."""
    with start_stack(tmp_path_factory, "transfer-stack", devices=1, seed=7331) as stack:
        yield stack


def test_a_partner_hands_a_site_ups_to_the_customer_who_accepts(browser: Browser, transfer_stack: LabStack):
    url = transfer_stack.url
    serial = transfer_stack.serials[0]
    sender = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(sender, url, company="Dockside Integrators", name="Niamh Byrne", email="niamh@dockside.example", partner=True)
    device_id = claim_device(sender, url, LabControl(transfer_stack.control_url), serial)

    receiver = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(receiver, url, company="Harbour Cold Store", name="Ciaran Walsh", email="ciaran@harbourcold.example")

    sender.goto(f"{url}/devices/{device_id}")
    sender.get_by_role("link", name="Transfer ownership").click()
    expect(sender.get_by_role("heading", name=re.compile("Transfer ownership"))).to_be_visible()
    sender.get_by_label("Email of a user of the receiving company").fill("ciaran@harbourcold.example")
    sender.get_by_label("Note for the receiving company (optional)").fill("Site handover: cold store, dock 3.")
    capture(sender, "transfer-offer")
    sender.get_by_role("button", name="Offer the transfer").click()
    expect(sender.locator("#transfer-waiting")).to_contain_text("Harbour Cold Store")

    receiver.goto(f"{url}/transfers")
    incoming = receiver.locator("#incoming-transfers")
    expect(incoming).to_contain_text(serial)
    expect(incoming).to_contain_text("Dockside Integrators")
    capture(receiver, "transfer-incoming")
    receiver.get_by_role("button", name=f"Accept {serial}").click()
    expect(receiver).to_have_url(re.compile(rf"/devices/{device_id}$"))
    expect(receiver.locator(".flash").first).to_contain_text("is now your company's")

    sender.goto(f"{url}/transfers")
    expect(sender.locator("#transfer-history")).to_contain_text("Accepted")
    expect(sender.locator("#transfer-history")).to_contain_text("Harbour Cold Store")
    capture(sender, "transfer-record")
    response = sender.goto(f"{url}/devices/{device_id}")
    assert response is not None and response.status == 404
