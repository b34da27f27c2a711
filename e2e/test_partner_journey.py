"""Journey: a customer shares devices with a partner, who orders licenses and assigns them, part now, the rest later.

This module runs its own portal with a lab mail server (portal.lab_mail), so every code travels over
real SMTP and is read from the lab Outbox page, as a lab user would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from devicelink.provisioning import claim_code
from e2e.conftest import CHROMIUM_FLAGS, Portal, capture, claim_with_code, reload_until_visible, sign_up  # noqa: F401 (the flags document how the browser runs)
from portal.lab_mail import LabMailServer
from portal.services.calendar_dates import add_months

FACTORY_KEY = b"e2e-factory-key"
SERIALS = ("AS2611000001", "AS2611000002", "AS2611000003")


@pytest.fixture(scope="module")
def partner_portal(tmp_path_factory):
    """A portal whose mail goes to a LabMailServer writing into the folder its Outbox page reads."""
    workdir = tmp_path_factory.mktemp("partner-portal")
    mail = LabMailServer(workdir / "lab-outbox")
    mail.start()
    server = Portal(workdir)
    server.env.update(
        {
            "UPSCONNECT_MAIL_SERVER": mail.host,
            "UPSCONNECT_MAIL_PORT": str(mail.port),
            "UPSCONNECT_LAB_OUTBOX_DIR": str(mail.folder),
        }
    )
    server.start()
    _insert_devices(server)
    yield server
    server.stop()
    mail.stop()


def _insert_devices(server: Portal) -> None:
    """Devices the factory made: known to the portal, owned by nobody, claimable with their LCD code."""
    engine = sa.create_engine(server.env["UPSCONNECT_DATABASE_URL"])
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        for n, serial in enumerate(SERIALS):
            conn.execute(
                sa.text(
                    "INSERT INTO devices (serial, model, firmware, battery_type, outlet_groups, name, site, first_seen_at,"
                    " battery_installed_on, warranty_ends_on)"
                    " VALUES (:serial, :model, 'UPS 09.8 (ID18)', 'lead-acid', '[\"Main Outlets\"]', '', '', :now,"
                    " '2025-03-01', '2028-03-01')"
                ),
                {"serial": serial, "model": ("SMT1500C", "SMT2200C", "SMT750C")[n], "now": now},
            )
    engine.dispose()


def _claim(page: Page, url: str, serial: str) -> int:
    return claim_with_code(page, serial, claim_code(FACTORY_KEY, serial), url)


def _latest_mail(page: Page, url: str, subject: re.Pattern) -> str:
    """The newest message whose subject matches, once the mail worker has delivered it."""
    page.goto(f"{url}/lab/outbox")
    reload_until_visible(page, page.get_by_role("link", name=subject).first)
    page.get_by_role("link", name=subject).first.click()
    return page.locator("#message-body").inner_text()


def _share(page: Page, url: str, device_id: int, email: str) -> None:
    page.goto(f"{url}/devices/{device_id}/sharing")
    page.get_by_label("Email of the partner or co-owner").fill(email)
    page.get_by_role("button", name="Share device").click()
    expect(page.get_by_text(f"Shared with {email}.")).to_be_visible()


def _accept(page: Page, url: str, serial: str) -> None:
    body = _latest_mail(page, url, re.compile(serial))
    code = re.search(r"Your confirmation code: (\S+)", body).group(1)
    page.goto(f"{url}/sharing")
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Accept", exact=True).click()
    expect(page.get_by_text("is now shared with you")).to_be_visible()


def test_customer_shares_partner_orders_and_assigns_part_now_the_rest_later(
    browser: Browser, partner_portal: Portal
):
    url = partner_portal.url
    customer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    partner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

    sign_up(
        customer,
        url,
        company="Harbour Data Centre",
        name="Niamh Byrne",
        email="niamh@harbour.example",
        partner=False,
    )
    devices = [_claim(customer, url, serial) for serial in SERIALS]
    trial_end = add_months(datetime.now(UTC).date(), 6)  # lab clock at its start: the real date
    sign_up(
        partner, url, company="Volt Partners", name="Ciaran Walsh", email="ciaran@volt.example", partner=True
    )

    # The customer shares; a wrong address is refused in place and kept.
    customer.goto(f"{url}/devices/{devices[0]}/sharing")
    customer.get_by_label("Email of the partner or co-owner").fill("ciaran@")
    customer.get_by_role("button", name="Share device").click()
    expect(customer.get_by_text("You have entered an invalid email address.")).to_be_visible()
    expect(customer.get_by_label("Email of the partner or co-owner")).to_have_value("ciaran@")
    for device_id in devices:
        _share(customer, url, device_id, "ciaran@volt.example")
    capture(customer, "sharing-device")

    # The partner reads each code in the emails and accepts.
    for serial in SERIALS:
        _accept(partner, url, serial)
    capture(partner, "sharing-inbox")
    partner.get_by_role("link", name="Shared With Me").first.click()
    expect(partner.get_by_role("heading", name="Harbour Data Centre")).to_be_visible()
    for serial in SERIALS:
        expect(partner.locator(f'tr[data-serial="{serial}"]')).to_be_visible()
    capture(partner, "shared-with-me")

    # Order 3 Standard 1-year licenses with an Installer Email.
    partner.get_by_role("link", name="Order licenses").first.click()
    partner.get_by_label("Customer").fill("Harbour Data Centre")
    partner.get_by_label("Product (SKU)").select_option("SCSTD1Y")
    partner.get_by_label("Quantity").fill("3")
    partner.get_by_label("PO number").fill("PO-2026-118")
    partner.get_by_label("Installer Email").fill("install@volt.example")
    partner.get_by_role("button", name="Place order").click()
    expect(partner.get_by_text("The activation code is on its way by email to install@volt.example.")).to_be_visible()
    capture(partner, "order-licenses")

    body = _latest_mail(partner, url, re.compile(r"Activation code for 3 x SCSTD1Y \(PO PO-2026-118\)"))
    capture(partner, "outbox-activation-code")
    code = re.search(r"Activation code:\s+(\S+)", body).group(1)
    assert "install@volt.example" in partner.locator("#message-headers").inner_text()

    # Verify, then assign 1 license to the first device.
    partner.get_by_role("link", name="Activation codes").click()
    partner.get_by_label("Activation code").fill(code)
    partner.get_by_role("button", name="Verify").click()
    expect(partner.locator("#code-remaining")).to_have_text("3")
    partner.get_by_role("button", name="Assign licenses to devices").click()
    partner.locator(f'tr[data-serial="{SERIALS[0]}"] input[type=checkbox]').check()
    capture(partner, "assign-select")
    partner.get_by_role("button", name="Next: review dates").click()
    new_term = f"{trial_end:%d %b %Y} to {add_months(trial_end, 12):%d %b %Y}"
    expect(partner.locator(f'#preview tr[data-serial="{SERIALS[0]}"] .new-term')).to_have_text(new_term)
    capture(partner, "assign-confirm")
    partner.get_by_role("button", name="Confirm and assign 1 license").click()
    expect(partner.locator(f'#assigned tr[data-serial="{SERIALS[0]}"] .new-term')).to_have_text(new_term)
    expect(partner.locator("#code-left")).to_contain_text("2 licenses left")
    capture(partner, "assign-done")

    # Later: the other two devices, from Shared With Me, with the same code.
    partner.get_by_role("link", name="Lab", exact=True).click()
    partner.get_by_role("button", name=re.compile(r"^\+30 days$")).click()
    partner.get_by_role("link", name="Shared With Me").first.click()
    for serial in SERIALS[1:]:
        partner.locator(f'tr[data-serial="{serial}"] input[type=checkbox]').check()
    partner.get_by_role("button", name="Next: assign licenses").click()
    partner.get_by_label("Activation code").fill(code.lower())
    partner.get_by_role("button", name="Next: review dates").click()
    expect(partner.locator("#preview tbody tr")).to_have_count(2)
    partner.get_by_role("button", name="Confirm and assign 2 licenses").click()
    for serial in SERIALS[1:]:
        expect(partner.locator(f'#assigned tr[data-serial="{serial}"] .new-term')).to_have_text(new_term)
    expect(partner.locator("#code-left")).to_contain_text("0 licenses left")

    # The customer ends one share; the partner no longer sees that device.
    customer.goto(f"{url}/devices/{devices[2]}/sharing")
    customer.get_by_role("button", name="Revoke sharing with ciaran@volt.example").click()
    expect(customer.get_by_text("Not shared with anyone.")).to_be_visible()
    partner.get_by_role("link", name="Shared With Me").first.click()
    expect(partner.locator(f'tr[data-serial="{SERIALS[2]}"]')).to_have_count(0)
    expect(partner.locator(f'tr[data-serial="{SERIALS[0]}"]')).to_be_visible()
