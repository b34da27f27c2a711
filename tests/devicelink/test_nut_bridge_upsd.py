"""The NUT bridge end to end with real programs: upsd + dummy-ups replaying device dumps, the lab's own
NUT server, ``python -m devicelink.nut_bridge``, the broker, ``flask ingest`` and the portal's pages.

dummy-ups offers only ``load.off`` (LIST CMD): the portal's "outlet group 0 off" reaches it as that
INSTCMD, and the portal refuses a self-test for it. The self-test goes to the simulated UPS the lab
serves over NUT (``python -m simulator fleet --nut-port``): a real INSTCMD the lab runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from devicelink.brokers import free_port
from devicelink.provisioning import manufacture
from e2e.stack import ROOT, LabStack
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceEvent, DeviceStatus, OrderChannel
from portal.services.clock import clock
from portal.services.licensing import entitlements
from tests.conftest import make_app
from tests.portal.factories import login, make_user
from tests.support.nut_upsd import SMT750_DUMP, SMT2200_ON_BATTERY_DUMP, DummyUpsd, missing_reason
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.timeout(240)]

NUT_USERS = "[bridge]\n  password = bridge-pass\n  instcmds = ALL\n  actions = SET\n"
TOKEN_RE = re.compile(r'id="token-value">(nbe_[A-Za-z0-9_-]+)<')
LAB_SEED = 4242


def _spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
        raise


def _fresh(query):
    db.session.rollback()  # see what the ingest process committed since
    return db.session.scalars(query).all()


@pytest.fixture
def world(tmp_path):
    with LabStack(tmp_path / "stack", devices=0) as stack:
        app = make_app(stack.env["UPSCONNECT_DATABASE_URL"], tmp_path, FACTORY_KEY=stack.factory_key_text,
                       MQTT_URL=stack.env["UPSCONNECT_MQTT_URL"])
        with app.app_context():
            yield stack, app
            db.session.remove()


def test_real_upses_behind_upsd_are_bridged_claimed_watched_and_commanded(world, tmp_path):
    stack, app = world
    client = app.test_client()
    owner = make_user(company="Harbour Data Centre")
    login(client, owner)
    token = TOKEN_RE.search(client.post("/bridges", data={"name": "nas-01", "site": "Rack B"}).get_data(as_text=True)).group(1)

    users = tmp_path / "upsd.users"
    users.write_text(NUT_USERS)
    lab_nut_port = free_port()
    lab = _spawn([sys.executable, "-m", "simulator", "fleet", "--count", "1", "--seed", str(LAB_SEED),
                  "--models", "SMT1500IC", "--interval", "1", "--broker", "embedded",
                  "--nut-port", str(lab_nut_port), "--nut-users", str(users)], tmp_path / "lab.log", stack.env)
    lab_serial = manufacture(1, LAB_SEED, ["SMT1500IC"])[0].serial
    nut_user = tmp_path / "nut-user"
    nut_user.write_text("bridge:bridge-pass\n")
    nut_user.chmod(0o600)
    broker = f"mqtt://127.0.0.1:{stack.broker.port}"
    with DummyUpsd(tmp_path / "upsd", {"smt750": SMT750_DUMP, "smt2200": SMT2200_ON_BATTERY_DUMP}, NUT_USERS) as upsd:
        bridge = _spawn(
            [sys.executable, "-m", "devicelink.nut_bridge", "--portal", stack.url, "--broker", broker,
             "--upsd", f"127.0.0.1:{upsd.port}", "--upsd", f"127.0.0.1:{lab_nut_port}",
             "--state-file", str(tmp_path / "bridge.json"), "--nut-user-file", str(nut_user), "--interval", "1"],
            tmp_path / "bridge.log", {**stack.env, "UPSCONNECT_BRIDGE_TOKEN": token},
        )
        try:
            serials = {"AS1316113420", "AS1250244567", lab_serial}  # ups.serial of both dumps, the lab's serial
            wait_until(lambda: {d.serial for d in _fresh(select(Device))} >= serials, 60, "the bridge to register its UPSes")
            stack.provision_devices(sorted(serials))  # Mosquitto reads logins from its password file
            assert (tmp_path / "bridge.json").stat().st_mode & 0o077 == 0

            page = client.get("/bridges").get_data(as_text=True)
            assert all(serial in page for serial in serials) and "smt2200@127.0.0.1" in page
            devices = {d.serial: d for d in _fresh(select(Device))}
            for device in devices.values():
                response = client.post(f"/bridges/{device.bridge_id}/claim", data={"device": device.id})
                assert response.status_code == 302
            smt750, smt2200, simulated = devices["AS1316113420"], devices["AS1250244567"], devices[lab_serial]
            # No trial for a bridged UPS: a Standard license from a code gives events, values and the self-test.
            # Advanced (outlet commands) for the SMT750, whose driver lists load.off.
            for sku, devices_licensed in (("SCADV1Y", [smt750]), ("SCSTD1Y", [simulated])):
                code = entitlements.place_order(ordered_by=owner, channel=OrderChannel.ONLINE, sku=sku, quantity=1,
                                                installer_email=owner.email, today=clock().today(), now=clock().now())
                entitlements.assign_from_code(owner, code.code, devices_licensed, today=clock().today(), now=clock().now())
            db.session.commit()

            def online(device):
                status = db.session.get(DeviceStatus, device.id)
                return status if status is not None and status.online and status.variables else None

            wait_until(lambda: _fresh(select(Device)) and all(online(d) for d in (smt750, smt2200, simulated)), 60,
                       "all three UPSes to be on line with telemetry")
            status_2200 = online(smt2200)
            assert status_2200.variables["ups.status"] == "OB DISCHRG" and status_2200.variables["battery.charge"] == 93
            assert online(smt750).variables["ups.model"] == "Smart-UPS 750"
            dashboard = client.get("/dashboard").get_data(as_text=True)
            assert '<tr data-serial="AS1250244567">' in dashboard
            assert re.search(r'data-serial="AS1250244567">.*?On Battery', dashboard, re.S)
            assert re.search(r'data-serial="AS1316113420">.*?On Line.*?5(\.2)?\s*%', dashboard, re.S), "the SMT750's live load"
            device_page = client.get(f"/devices/{smt750.id}").get_data(as_text=True)
            assert "Smart-UPS 750" in device_page and "UPS 09.8" in device_page

            # A power cut on the SMT750: the bridge turns the status change into APC's event.
            upsd.set_variable("smt750", "ups.status", "OB DISCHRG")
            wait_until(lambda: _fresh(select(DeviceEvent.text).where(DeviceEvent.device_id == smt750.id)), 30,
                       "the on-battery event")
            texts = _fresh(select(DeviceEvent.text).where(DeviceEvent.device_id == smt750.id))
            assert "UPS: On battery power in response to an input power problem." in texts
            assert "On Battery" in client.get(f"/devices/{smt750.id}").get_data(as_text=True)

            # The dummy driver lists no self-test: the portal says so and sends nothing.
            refused = client.post(f"/devices/{smt750.id}/commands", data={"type": "test.battery.start"}, follow_redirects=True)
            assert "does not offer it" in refused.get_data(as_text=True)
            assert not _fresh(select(DeviceCommand).where(DeviceCommand.device_id == smt750.id))

            # What dummy-ups does list, load.off, carries "outlet group 0 off": a real INSTCMD that upsd accepts.
            sent_off = client.post(f"/devices/{smt750.id}/commands", data={"type": "outlet.group.off", "group": "UPS Outlets"}, follow_redirects=True)
            assert "outlet.group.off sent." in sent_off.get_data(as_text=True), re.findall(r"flash-error[^>]*>([^<]*)", sent_off.get_data(as_text=True))
            command = wait_until(lambda: [c for c in _fresh(select(DeviceCommand).where(DeviceCommand.device_id == smt750.id))
                                          if c.status in ("done", "failed")], 30, "the load.off result")[0]
            assert (command.status, command.message) == ("done", "upsd accepted load.off")

            # The lab's UPS lists test.battery.start: the portal's self-test reaches it as an INSTCMD.
            sent = client.post(f"/devices/{simulated.id}/commands", data={"type": "test.battery.start"}, follow_redirects=True)
            assert sent.status_code < 400
            command = wait_until(lambda: [c for c in _fresh(select(DeviceCommand).where(DeviceCommand.device_id == simulated.id))
                                          if c.status == "done"], 30, "the self-test's result")[0]
            assert command.message == "upsd accepted test.battery.start"
            wait_until(lambda: "Self-Test" in " ".join(_fresh(select(DeviceEvent.text).where(DeviceEvent.device_id == simulated.id))),
                       60, "the simulated UPS's self-test to show in its events")

            # A UPS whose driver stops is lost in the portal; the others stay on line.
            upsd.stop_driver("smt2200")
            wait_until(lambda: _fresh(select(Device)) and not db.session.get(DeviceStatus, smt2200.id).online, 30,
                       "the SMT2200 to show as lost")
            assert db.session.get(DeviceStatus, smt750.id).online

            started = time.monotonic()
            assert _stop(bridge) == 0
            assert time.monotonic() - started < 5, "SIGTERM stops the bridge within seconds"
            wait_until(lambda: _fresh(select(Device)) and not db.session.get(DeviceStatus, smt750.id).online, 30,
                       "a stopped bridge's UPSes to show as lost")
        finally:
            if bridge.poll() is None:
                _stop(bridge)
            _stop(lab)
            print((tmp_path / "bridge.log").read_text()[-3000:])

