"""Journey: a customer claims a UPS, makes an API token on the API tokens page, reads the device over the API
with it, starts a self-test over the API, then revokes the token and is refused.

Screenshots of the tokens page and the API reference are written to UPSCONNECT_SCREENSHOTS when set.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

from e2e.conftest import capture, claim_device, sign_up


def _call(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    if body is not None:
        request.data, request.method = json.dumps(body).encode(), "POST"
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_make_a_token_use_it_and_revoke_it(page: Page, base_url: str, lab_control):
    serial = lab_control.devices()[6]["serial"]  # the shared fleet's device for this journey (e2e/conftest.py)
    sign_up(page, base_url, company="Script Works", name="Ada Ops", email="ada@scriptworks.example")
    device_id = claim_device(page, base_url, lab_control, serial)

    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    page.get_by_label("Token name").fill("RMM sync")
    page.get_by_label(re.compile(r"^read:")).check()
    page.get_by_label(re.compile(r"^commands:")).check()
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    token = page.locator("#token-value").inner_text()
    assert token.startswith("upc_")

    status, devices = _call(f"{base_url}/api/v1/devices", token)
    assert status == 200 and [d["serial"] for d in devices["items"]] == [serial]
    status, command = _call(f"{base_url}/api/v1/devices/{device_id}/commands", token, {"type": "test.battery.start"})
    assert status == 202 and command["status"] == "sent", command
    capture(page, "api-tokens-new")

    page.goto(f"{base_url}/account/tokens/")
    expect(page.locator("#tokens")).to_contain_text("2 calls")
    page.get_by_role("button", name="Revoke RMM sync").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    capture(page, "api-tokens-revoked")
    status, problem = _call(f"{base_url}/api/v1/devices", token)
    assert status == 401 and problem["type"] == "/api/v1/docs#problem-unauthorized"

    page.goto(f"{base_url}/api/v1/docs")
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    expect(page.locator("#operations")).to_contain_text("/api/v1/devices/{device_id}/commands")
    capture(page, "api-docs")
