"""Journey: a customer enrols a NUT bridge, runs the agent next to a real upsd, claims its UPS, sees it live.

The upsd is Debian's, with the dummy-ups driver replaying a Smart-UPS 2200 running on battery
(tests/support/nut_upsd.py). Screenshots of the Bridges page: UPSCONNECT_SCREENSHOTS (e2e/conftest.py capture).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import ROOT, capture, sign_up, start_stack
from tests.support.nut_upsd import SMT2200_ON_BATTERY_DUMP, DummyUpsd, missing_reason

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
SERIAL = "AS1250244567"  # the dump's ups.serial


def test_customer_enrols_a_bridge_claims_its_ups_and_sees_it_on_battery(page: Page, tmp_path_factory):
    stack = start_stack(tmp_path_factory, "nut-bridge", devices=0)
    workdir = tmp_path_factory.mktemp("nut-bridge-agent")
    with stack, DummyUpsd(workdir / "upsd", {"smt2200": SMT2200_ON_BATTERY_DUMP}, "[bridge]\n password = p\n") as upsd:
        sign_up(page, stack.url, company="Harbour Data Centre", name="Niamh Byrne", email="niamh@harbour.example")
        page.get_by_role("link", name="Bridges", exact=True).click()
        expect(page.get_by_text("No bridges yet.")).to_be_visible()
        page.get_by_label("Bridge name").fill("nas-01")
        page.get_by_label("Site").fill("Rack B, Dublin")
        page.get_by_role("button", name="Create bridge").click()
        token = page.locator("#token-value").inner_text()
        assert re.fullmatch(r"nbe_[A-Za-z0-9_-]{20,}", token)
        expect(page.get_by_text("Waiting for the agent")).to_be_visible()
        capture(page, "bridges-token")

        agent = subprocess.Popen(
            [sys.executable, "-m", "devicelink.nut_bridge", "--portal", stack.url,
             "--broker", f"mqtt://127.0.0.1:{stack.broker.port}", "--upsd", f"127.0.0.1:{upsd.port}",
             "--state-file", str(workdir / "bridge.json"), "--interval", "1"],
            cwd=ROOT, env={**stack.env, "UPSCONNECT_BRIDGE_TOKEN": token}, stdout=(workdir / "agent.log").open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            page.get_by_role("link", name="Bridges", exact=True).click()
            claim = page.get_by_role("button", name=f"Claim {SERIAL}")
            for _ in range(60):  # the agent enrols and reports within a few seconds
                if claim.count():
                    break
                page.wait_for_timeout(500)
                page.reload()
            expect(claim).to_be_visible()
            expect(page.get_by_text("Enrolled")).to_be_visible()
            stack.provision_devices([SERIAL])  # Mosquitto's password file gets the UPS's login
            capture(page, "bridges-claim")
            claim.click()
            expect(page.get_by_text(f"Smart-UPS 2200 {SERIAL} is now registered to Harbour Data Centre.")).to_be_visible()

            page.get_by_role("link", name="Dashboard", exact=True).first.click()
            row = page.locator(f'tr[data-serial="{SERIAL}"]')
            expect(row.get_by_text("On Battery")).to_be_visible(timeout=30_000)
            row.get_by_role("link", name=SERIAL).click()
            expect(page.get_by_text("On Battery").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Smart-UPS 2200").first).to_be_visible()
            expect(page.locator("#connection")).to_contain_text("NUT bridge nas-01")
            capture(page, "bridged-device")
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait(5)
