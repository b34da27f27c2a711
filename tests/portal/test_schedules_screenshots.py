"""Screenshots of the schedules page and the new-schedule form at 1280 and 390 px; runs only with
UPSCONNECT_SCREENSHOTS set (like the e2e journeys) and the system Chromium."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from devicelink.contract import ResultStatus, result_payload
from portal.device_link import publish_command
from portal.extensions import db
from portal.models import CommandBatch, FleetSchedule
from portal.services.clock import clock
from portal.services.fleet import scheduled_runs, schedules
from portal.services.fleet.occurrences import Cadence
from portal.services.fleet.telemetry_store import record_command_result
from tests.portal.factories import PASSWORD, make_user
from tests.portal.test_commands import broker, linked_app  # noqa: F401 - fixtures
from tests.portal.test_schedules import _ready_device

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not os.environ.get("UPSCONNECT_SCREENSHOTS") or not shutil.which("chromium"), reason="screenshots on request"
)


def _run_now(schedule_id):
    lab_clock = clock()
    db.session.get(FleetSchedule, schedule_id).next_run_at = lab_clock.now()
    db.session.commit()
    scheduled_runs.run_due(now=lab_clock.now(), today=lab_clock.today(), publish=publish_command, schedule_id=schedule_id)


def test_screenshots(linked_app, broker):  # noqa: F811
    owner = make_user(company="Harbour Data Centre")
    devices = [_ready_device(owner) for _ in range(6)]
    for n, device in enumerate(devices):
        device.site, device.name = ("Harbour DC" if n < 4 else "Leeds"), f"Rack {n + 1} UPS"
    db.session.commit()
    now = clock().now()
    weekly = schedules.create_self_test(owner, schedules.Target(site="Harbour DC"), Cadence("weekly", 3, weekday=0), now=now)
    db.session.commit()
    _run_now(weekly.id)
    monthly = schedules.create_self_test(
        owner, schedules.Target(device_ids=tuple(d.id for d in devices[4:])), Cadence("monthly", 2, day_of_month=31), now=now
    )
    schedules.pause(owner, monthly)
    rollout = schedules.create_rollout(
        owner, schedules.Target(device_ids=tuple(d.id for d in devices)), wave_percent=10, soak_hours=24, now=now
    )
    db.session.commit()
    _run_now(rollout.id)
    first = db.session.get(CommandBatch, db.session.get(FleetSchedule, rollout.id).first_wave_batch_id)
    record_command_result(
        result_payload(first.items[0].command_id, ResultStatus.FAILED, ts=0, message="Checksum mismatch."), clock().now()
    )
    db.session.commit()
    scheduled_runs.watch_rollouts(scheduled_runs.DueResult())
    email, ids = owner.email, [d.id for d in devices[:3]]
    db.session.remove()
    server = make_server("127.0.0.1", 0, linked_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            for path, name in (("/schedules/", "schedules"), ("/schedules/new?" + "&".join(f"device={i}" for i in ids), "schedules-new")):
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(url + path)
                page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
                page.set_viewport_size({"width": 390, "height": 844})
                page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
