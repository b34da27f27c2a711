"""The issue's wording and counts list, each pinned (the banner counts are in tests/licensing/test_renewal_banners.py,
the re-claim wording in tests/portal/test_claiming.py, the quote's source in tests/reports/test_quotes.py)."""

from __future__ import annotations

from datetime import datetime

from portal.services.alerts.device_alerts import device_alert
from portal.services.clock import clock
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import EXAMPLE_CODE, check_code_format
from tests.portal.factories import login, make_device, make_user


def test_a_cleared_threshold_alert_says_it_cleared(app):
    device = make_device(make_user(), serial="AS2600000201")
    raised = device_alert(device, "threshold_load", "warning", "Load 91 %", datetime(2026, 5, 1), details={"raised": True})
    cleared = device_alert(device, "threshold_load", "informational", "Load 60 %", datetime(2026, 5, 1), details={"raised": False})
    assert raised.title.startswith("Load above limit · ")
    assert cleared.title.startswith("Load back within limit · ")
    assert cleared.event_type == "threshold_load"  # policies and the log still file it under the same type
    runtime = device_alert(device, "threshold_runtime", "informational", "", datetime(2026, 5, 1), details={"raised": False})
    assert runtime.title.startswith("Runtime back above limit")


def test_the_activation_code_example_is_itself_a_valid_code(app, client):
    assert check_code_format(EXAMPLE_CODE)  # raises if too short, wrong check character, ...
    login(client, make_user())
    page = client.get("/licenses/verify").get_data(as_text=True)
    assert f"Like {EXAMPLE_CODE}." in page
    answer = client.get("/licenses/verify", query_string={"code": EXAMPLE_CODE}).get_data(as_text=True)
    assert "An activation code has 25 letters" not in answer


def test_percentage_charts_run_from_0_to_100(app, client):
    owner = make_user()
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    from portal.extensions import db

    db.session.commit()
    login(client, owner)
    page = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert 'data-series="charge_percent" data-label="Battery charge" data-unit="%" data-y-min="0" data-y-max="100"' in page
    assert 'data-series="input_voltage_v" data-label="Input voltage" data-unit="V">' in page
