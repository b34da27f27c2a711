"""Journey: a customer ticks five devices on the dashboard, previews a self-test on all of them, confirms, and
watches the batch's progress until every simulated device has finished its test.

With UPSCONNECT_SCREENSHOTS=<folder> the dashboard, the preview and the finished batch are captured at 390 and
1280 px wide (docs/screenshots/bulk-*.png come from here).
"""

import re

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import capture, claim_device, sign_up, start_stack
from e2e.lab_control import LabControl
from e2e.stack import LabStack


@pytest.fixture(scope="module")
def bulk_stack(tmp_path_factory):
    """A fleet of its own: the journey claims all five devices, which the shared stack's journeys each need."""
    with start_stack(tmp_path_factory, "bulk-stack", devices=5, seed=5151) as stack:
        yield stack


def test_select_five_devices_run_a_self_test_on_all_and_watch_the_batch(browser: Browser, bulk_stack: LabStack):
    url = bulk_stack.url
    lab_control = LabControl(bulk_stack.control_url)
    serials = bulk_stack.serials
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(page, url, company="Quayside Hosting", name="Aoife Kelly", email="aoife@quayside.example")
    for serial in serials:
        claim_device(page, url, lab_control, serial)  # each on its 6-month Standard trial: self-test allowed

    page.goto(f"{url}/dashboard")
    table = page.locator("#device-table")
    for serial in serials:
        expect(table.locator("tr", has_text=serial).locator(".badge").first).to_have_text("On Line", timeout=30_000)
        page.get_by_label(f"Select {serial}").check()
    page.get_by_label("Action to run").select_option(label="Start a self-test")
    capture(page, "bulk-dashboard")
    page.get_by_role("button", name="Preview bulk action").click()

    expect(page.get_by_role("heading", name="Will run: Start a self-test on 5 devices")).to_be_visible()
    expect(page.locator("#will-run-list li")).to_have_count(5)
    capture(page, "bulk-preview")

    lab_control.speed(10)
    try:
        page.get_by_role("button", name="Start a self-test on 5 devices").click()
        expect(page).to_have_url(re.compile(r"/bulk/batches/\d+$"))
        lines = page.locator("#batch-lines tbody tr")
        expect(lines).to_have_count(5)
        # The progress region polls itself (htmx) until every device has answered.
        expect(page.locator("#batch-state")).to_contain_text("Done", timeout=90_000)
        expect(page.locator('#batch-lines tr[data-state="succeeded"]')).to_have_count(5)
        capture(page, "bulk-batch")
    finally:
        lab_control.speed(1)
