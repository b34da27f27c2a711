"""docs/nut.md's "Bridge a real UPS" recipe, run as written against a real upsd and a running portal."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from e2e.stack import LabStack
from portal.extensions import db
from portal.models import Device
from portal.services.clock import clock
from portal.services.fleet import nut_bridges
from tests.conftest import make_app
from tests.portal.factories import make_user
from tests.simulator.test_nut_docs import recipe, run_recipe
from tests.support.nut_upsd import SMT750_DUMP, SMT2200_ON_BATTERY_DUMP, DummyUpsd, missing_reason

pytestmark = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.timeout(180)]


def test_bridge_a_real_ups_recipe(tmp_path, monkeypatch):
    if shutil.which("upsc") is None:
        pytest.skip("upsc is not installed (apt-get install nut-client)")
    with LabStack(tmp_path / "stack", devices=0) as stack:
        app = make_app(stack.env["UPSCONNECT_DATABASE_URL"], tmp_path, FACTORY_KEY=stack.factory_key_text)
        with app.app_context():
            new = nut_bridges.create_bridge(make_user(), "nas-01", "", now=clock().now())
            db.session.commit()
            users = "[bridge]\n  password = bridge-pass\n  instcmds = ALL\n  actions = SET\n"
            with DummyUpsd(tmp_path / "upsd", {"smt750": SMT750_DUMP, "smt2200": SMT2200_ON_BATTERY_DUMP}, users) as upsd:
                for name, value in {"PORTAL": stack.url, "BROKER": f"mqtt://127.0.0.1:{stack.broker.port}",
                                    "UPSD": f"127.0.0.1:{upsd.port}", "TOKEN": new.token, "NUT_PASSWORD": "bridge-pass"}.items():
                    monkeypatch.setenv(name, value)
                result = run_recipe(recipe("Bridge a real UPS"), tmp_path)
            assert result.returncode == 0, result.stderr[-3000:]
            assert set(result.stdout.split()[:2]) == {"smt750", "smt2200"}  # upsc -l
            assert not (tmp_path / "token").exists()
            db.session.rollback()
            serials = set(db.session.scalars(select(Device.serial).where(Device.bridge_id == new.bridge.id)))
            assert serials and serials <= {"AS1316113420", "AS1250244567"}  # registered by their ups.serial
