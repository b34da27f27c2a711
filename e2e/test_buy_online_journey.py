"""Journey: a customer renews from the Subscription Overview by buying licenses online with a card.

A declined card changes nothing; a test card that the payment sandbox approves buys a 3-year Advanced
plan, which starts at once while the trial's remaining time is kept for after it.
"""

import re

from playwright.sync_api import Page, expect

from e2e.conftest import claim_device, sign_up
from e2e.lab_control import LabControl
from e2e.stack import LabStack


def test_customer_buys_an_advanced_plan_online_after_a_declined_card(
    page: Page, lab_stack: LabStack, lab_control: LabControl
):
    url = lab_stack.url
    serial = lab_stack.serials[5]
    sign_up(page, url, company="Harbour Clinic", name="Eimear Walsh", email="eimear@harbour-clinic.example")
    claim_device(page, url, lab_control, serial)

    # The overview lists the device on its trial; the customer selects it and chooses to buy online.
    page.get_by_role("link", name="Subscriptions", exact=True).click()
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row).to_contain_text("Standard")
    expect(row).to_contain_text("trial")
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Buy online").click()

    # Choosing the 3-year Advanced plan reprices the cart and the Pay button in place.
    page.get_by_label(f"License for {serial}").select_option("SCADV3Y")
    expect(page.locator("#cart-total")).to_have_text("EUR 329.00")
    expect(page.get_by_role("button", name=re.compile(r"^Pay EUR 329\.00$"))).to_be_visible()

    # A declined card: a clear message, what was typed is kept, nothing is bought.
    page.get_by_label("Name on card").fill("Eimear Walsh")
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry (MM/YY)").fill("12/30")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay")).click()
    expect(page.get_by_text("Your card was declined.")).to_be_visible()
    expect(page.get_by_label("Name on card")).to_have_value("Eimear Walsh")
    page.goto(f"{url}/subscriptions")
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row).to_contain_text("trial")
    expect(row).not_to_contain_text("Advanced")

    # The sandbox's approved test card pays; the Advanced plan runs from today.
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Buy online").click()
    page.get_by_label(f"License for {serial}").select_option("SCADV3Y")
    expect(page.locator("#cart-total")).to_have_text("EUR 329.00")
    page.get_by_label("Name on card").fill("Eimear Walsh")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/30")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay")).click()
    expect(page.get_by_text(re.compile(r"Payment sbx_\w+ of EUR 329\.00 accepted"))).to_be_visible()
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row).to_contain_text("Advanced")
    expect(row).not_to_contain_text("trial")
    expect(row).to_contain_text("Standard")  # the rest of the trial is queued after the Advanced term
