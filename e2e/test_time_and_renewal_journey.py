"""Journey 4: time moves forward on the Lab page, and subscriptions behave as the licensing rules say.

Renewal banners appear 90 and 30 days ahead; a 1Y + 3Y Standard stack adds up to 4 years after the
trial; an Advanced license assigned mid-term starts at once and the trial's remaining days resume after
it; a device with no renewal drops to Basic at the end of its term and its remote actions disappear.
This journey moves the lab clock, so it runs its own stack.
"""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import assign_license, claim_device, order_licenses, sign_up, start_stack
from e2e.lab_control import LabControl
from e2e.stack import LabStack
from portal.services.calendar_dates import add_months


@pytest.fixture(scope="module")
def time_stack(tmp_path_factory):
    with start_stack(tmp_path_factory, "time-stack", devices=3, seed=4242) as stack:
        yield stack


def _day(d: date) -> str:
    return f"{d:%d %b %Y}"


def _new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


def _move_lab_clock(page: Page, url: str, days: int, *, total: int) -> None:
    page.goto(f"{url}/lab/clock")
    page.get_by_label("Move by days").fill(str(days))
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#lab-offset")).to_have_text(f"{total} days")


def _timeline(page: Page) -> list[str]:
    return [" | ".join(row.split("\t")) for row in page.locator("#timeline-table tbody tr").all_inner_texts()]


def test_lab_clock_renewal_banners_stacking_upgrade_and_drop_to_basic(browser: Browser, time_stack: LabStack):
    url = time_stack.url
    lab = LabControl(time_stack.control_url)
    stacked, upgraded, lapsing = time_stack.serials
    today = datetime.now(UTC).date()  # the lab clock starts at the real date
    trial_end = add_months(today, 6)
    trial_days = (trial_end - today).days

    customer = _new_page(browser)
    sign_up(customer, url, company="Meadow Farms", name="Ciara Nolan", email="ciara@meadow.example")
    ids = {serial: claim_device(customer, url, lab, serial) for serial in time_stack.serials}
    partner = _new_page(browser)
    sign_up(
        partner,
        url,
        company="Field Partners",
        name="Darragh Kelly",
        email="darragh@field.example",
        partner=True,
    )
    codes = {
        sku: order_licenses(partner, url, sku=sku, quantity=1, po=f"PO-{sku}", customer="Meadow Farms")
        for sku in ("SCSTD1Y", "SCSTD3Y", "SCADV1Y")
    }

    # 1Y + 3Y on one device: appended after the trial, they add up to 4 years.
    assign_license(customer, url, serial=stacked, code=codes["SCSTD1Y"])
    assign_license(customer, url, serial=stacked, code=codes["SCSTD3Y"])
    customer.goto(f"{url}/devices/{ids[stacked]}")
    expect(customer.locator("#plan")).to_have_text("Standard")
    expect(customer.locator("#timeline-table")).to_contain_text(_day(add_months(trial_end, 48)))
    basic_row = customer.locator("#timeline-table tbody tr", has_text="Basic")
    expect(basic_row).to_contain_text(_day(add_months(trial_end, 48)))
    customer.goto(f"{url}/dashboard")
    expect(customer.get_by_text("Renewal due:")).to_have_count(0)
    expect(customer.get_by_text("Trial ending:")).to_have_count(0)

    # Two months in, an Advanced license starts at once; the trial's remaining days resume after it.
    _move_lab_clock(customer, url, 60, total=60)
    upgrade_day = today + timedelta(days=60)
    assign_license(customer, url, serial=upgraded, code=codes["SCADV1Y"])
    customer.goto(f"{url}/devices/{ids[upgraded]}")
    expect(customer.locator("#plan")).to_have_text("Advanced")
    rows = _timeline(customer)
    advanced = next(row for row in rows if row.startswith("Advanced"))
    assert _day(upgrade_day) in advanced, rows
    advanced_end = datetime.strptime(re.findall(r"\d\d \w{3} \d{4}", advanced)[1], "%d %b %Y").date()
    resumed = next(
        row for row in rows if row.startswith("Standard") and _day(advanced_end) in row.split(" | ")[1]
    )
    left = (trial_end - upgrade_day).days
    assert _day(advanced_end + timedelta(days=left)) in resumed, rows

    # 90 days before the trial ends: a renewal is due; 30 days before: the trial is ending.
    _move_lab_clock(customer, url, trial_days - 89 - 60, total=trial_days - 89)
    customer.goto(f"{url}/dashboard")
    expect(customer.get_by_text("Renewal due:")).to_be_visible()
    expect(customer.get_by_text("Trial ending:")).to_have_count(0)
    _move_lab_clock(customer, url, 60, total=trial_days - 29)
    customer.goto(f"{url}/dashboard")
    expect(customer.get_by_text("Trial ending:")).to_be_visible()
    expect(customer.locator("#banners")).to_contain_text(
        "1 device will drop to the Basic plan within 30 days"
    )

    # The trial ends with nothing queued: that device is on Basic and its remote actions are gone.
    customer.goto(f"{url}/devices/{ids[lapsing]}")
    expect(customer.get_by_role("button", name="Start self-test")).to_be_visible()
    _move_lab_clock(customer, url, 29, total=trial_days)
    customer.goto(f"{url}/devices/{ids[lapsing]}")
    expect(customer.locator("#plan")).to_have_text("Basic")
    for name in ("Start self-test", "Set input sensitivity", re.compile(r"^Upgrade firmware")):
        expect(customer.get_by_role("button", name=name)).to_have_count(0)
    customer.goto(f"{url}/devices/{ids[stacked]}")
    expect(customer.locator("#plan")).to_have_text("Standard")
    customer.goto(f"{url}/devices/{ids[upgraded]}")
    expect(customer.locator("#plan")).to_have_text("Advanced")
    customer.goto(f"{url}/dashboard")
    expect(customer.locator(f'tr[data-serial="{lapsing}"]')).to_contain_text("Basic")
