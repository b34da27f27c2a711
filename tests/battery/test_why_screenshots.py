"""Screenshots of the "why it went to battery" sections at 1280 and 390 px, over the page tests' data; runs only
with UPSCONNECT_SCREENSHOTS set (like the e2e journeys) and the system Chromium."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from portal.extensions import db
from tests.battery import test_why_pages as w
from tests.portal.factories import PASSWORD, make_user

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not os.environ.get("UPSCONNECT_SCREENSHOTS") or not shutil.which("chromium"), reason="screenshots on request"
)


def test_screenshots(app):
    owner = make_user()
    basic_owner = make_user()
    leeds = w._device(owner, site="Leeds")
    leeds.name = "Leeds comms room"
    york = w._device(owner, site="York")
    york.name = "York office"
    db.session.commit()
    w._notchy(leeds)
    w._transfer(york, 10, 1, 120, w.PROBLEM, voltage=0.0)
    basic = w._device(basic_owner, trial=False)
    w._notchy(basic)
    leeds_id, basic_id = leeds.id, basic.id
    email, basic_email = owner.email, basic_owner.email
    db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-dev-shm-usage"])
            for who, device_id, prefix in ((email, leeds_id, "battery-why"), (basic_email, basic_id, "battery-why-basic")):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url + "/login")
                page.get_by_label("Email").fill(who)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state()
                page.goto(f"{url}/devices/{device_id}")
                section = page.locator("#battery-why")
                section.screenshot(path=str(SHOTS / (f"{prefix}-1280.png" if prefix.endswith("basic") else f"{prefix}-device-1280.png")))
                page.set_viewport_size({"width": 390, "height": 844})
                section.screenshot(path=str(SHOTS / (f"{prefix}-390.png" if prefix.endswith("basic") else f"{prefix}-device-390.png")))
                if prefix == "battery-why":
                    page.set_viewport_size({"width": 1280, "height": 900})
                    page.goto(f"{url}/battery")
                    page.locator("#battery-why").screenshot(path=str(SHOTS / "battery-why-sites-1280.png"))
                    page.set_viewport_size({"width": 390, "height": 844})
                    page.locator("#battery-why").screenshot(path=str(SHOTS / "battery-why-sites-390.png"))
                page.close()
            browser.close()
    finally:
        server.shutdown()
