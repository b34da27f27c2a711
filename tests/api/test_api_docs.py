"""docs/api.md's curl examples run, as written, against a live portal with a real broker behind it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import ApiCall, DeviceCommand
from tests.api.api_world import build
from tests.portal.test_commands import DeviceInbox, broker, linked_app  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]


def curl_block() -> str:
    """The shell block of docs/api.md's "Examples with curl" section."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## Examples with curl", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_documented_curl_examples_run_against_a_live_portal(linked_app, broker, tmp_path):  # noqa: F811
    linked_app.config["SERVER_NAME"] = None
    world = build(linked_app)
    inbox = DeviceInbox(broker.port, world.device.serial)
    server = make_server("127.0.0.1", 0, linked_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "API": f"http://127.0.0.1:{server.server_port}/api/v1", "TOKEN": world.secrets["all"],
               "DEVICE_ID": str(world.device.id)}
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", curl_block()], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert world.device.serial in result.stdout and '"status":"sent"' in result.stdout
        assert (tmp_path / "openapi.json").read_text().startswith("{")
        assert world.device.serial in (tmp_path / "renewals.csv").read_text()
        assert inbox.next()["type"] == "test.battery.start"  # the self-test reached the device
    finally:
        server.shutdown()
        thread.join(timeout=5)
        inbox.close()
    db.session.expire_all()
    sent = db.session.query(DeviceCommand).filter(DeviceCommand.id != world.command_id).one()
    assert sent.status == "sent"
    assert db.session.query(ApiCall).count() == 9  # every call with the token audited (not the open document)
