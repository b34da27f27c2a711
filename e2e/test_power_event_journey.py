"""Journey 2: a power cut on a customer's device, as the customer sees it in the browser.

The lab cuts the device's input power; the device page shows it On Battery with a falling runtime, then
Low Battery, and the event log has APC's wording. Power returns and the device is back On Line, charging.
The default notification policy e-mails the owner, and a policy the customer adds posts to a Slack
webhook: the mail arrives at the lab SMTP server and the Slack message at the local webhook receiver.
"""

import email
import email.policy
import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.conftest import claim_device, reload_until_visible, sign_up
from e2e.lab_control import LabControl
from e2e.stack import LabStack

ON_BATTERY_EVENT = "UPS: On battery power in response to an input power problem."
LOW_BATTERY_EVENT = "UPS: The battery power is too low to continue to support the load"
OFF_BATTERY_EVENT = "UPS: No longer on battery power."


def _minutes(text: str) -> int:
    return int(re.match(r"\s*(\d+)", text).group(1))


def _mail_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in messages if m["To"] == address]


def _slack_texts(webhook_receiver) -> list[str]:
    return [json.loads(request.get_data())["text"] for request, _ in webhook_receiver.log if request.path == "/slack/power"]


def test_power_cut_shows_on_battery_then_low_battery_then_charging(
    page: Page, lab_stack: LabStack, lab_control: LabControl, webhook_receiver, mail_outbox
):
    url = lab_stack.url
    serial = lab_stack.serials[1]
    webhook_receiver.expect_request("/slack/power", method="POST").respond_with_data("ok")
    sign_up(page, url, company="Riverside Studios", name="Orla Quinn", email="orla@riverside.example")
    device_id = claim_device(page, url, lab_control, serial)

    # A notification policy routes on-battery alerts to the team's Slack channel.
    page.goto(f"{url}/notifications/policies/new")
    page.get_by_label("Name").fill("Power alerts to Slack")
    page.get_by_label("On battery", exact=True).check()
    page.get_by_label("Slack incoming webhook URL").fill(webhook_receiver.url_for("/slack/power"))
    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_text("Power alerts to Slack").first).to_be_visible()
    page.goto(f"{url}/devices/{device_id}")
    mode = page.locator("#mode")
    runtime = page.locator("#runtime")
    expect(mode).to_have_text("On Line", timeout=30_000)

    # The lab cuts the input power: the page (refreshing itself) shows the device on battery.
    lab_control.blackout(serial, duration_s=48 * 3600)
    expect(mode).to_have_text("On Battery", timeout=20_000)
    expect(runtime).to_have_text(re.compile(r"\d+ min estimated runtime"))
    first = runtime.inner_text()

    # Time runs faster in the lab: the runtime falls, then the battery runs low.
    lab_control.speed(30)
    expect(runtime).not_to_have_text(first, timeout=30_000)
    assert _minutes(runtime.inner_text()) < _minutes(first), (first, runtime.inner_text())
    # Jump to about three minutes of runtime left; the UPS warns below two.
    lab_control.speed(6)
    left = _minutes(runtime.inner_text())
    lab_control.advance(max(0, left - 3) * 60)
    expect(mode).to_have_text("Low Battery", timeout=60_000)
    lab_control.speed(1)

    # The event log says it in APC's words.
    page.goto(f"{url}/devices/{device_id}")
    events = page.locator("#event-log")
    reload_until_visible(page, events.get_by_text(ON_BATTERY_EVENT))
    reload_until_visible(page, events.get_by_text(re.compile(re.escape(LOW_BATTERY_EVENT))))

    # The alerts went out: an e-mail to the owner (default policy) and a Slack message (the new policy).
    page.goto(f"{url}/notifications")
    expect(page.get_by_text("Slack").first).to_be_visible()
    reload_until_visible(page, page.get_by_text("sent").first)
    mails = _mail_to(mail_outbox, "orla@riverside.example")
    assert any("on battery" in m["Subject"].lower() for m in mails), [(m["To"], m["Subject"]) for m in mails] or sorted(
        p.name for p in mail_outbox.glob("*")
    )
    assert any(serial in text and "battery" in text.lower() for text in _slack_texts(webhook_receiver))
    page.goto(f"{url}/devices/{device_id}")

    # Power returns: on line again, recharging the battery.
    lab_control.restore(serial)
    expect(page.locator("#mode")).to_have_text("On Line", timeout=20_000)
    expect(page.locator("#freshness code")).to_contain_text("CHRG", timeout=20_000)
    reload_until_visible(page, page.locator("#event-log").get_by_text(OFF_BATTERY_EVENT))
