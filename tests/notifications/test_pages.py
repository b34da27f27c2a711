"""The notifications page: policies, the delivery log with re-send, maintenance, thresholds; access by company."""

from __future__ import annotations

from portal.extensions import db
from portal.models import MaintenanceWindow, NotificationPolicy, ThresholdSetting
from portal.services.clock import clock
from portal.services.outbox.queue import deliver_due
from tests.notifications.conftest import ON_BATTERY, deliveries, raise_event
from tests.portal.factories import login, make_user

POLICY = {
    "name": "Night shift",
    "description": "Critical events to the on-call team",
    "event_types": ["on_battery", "overload"],
    "severities": ["critical"],
    "email_recipients": "oncall@customer.example, boss@customer.example",
    "slack_webhook_url": "",
    "teams_webhook_url": "",
    "webhook_url": "",
    "enabled": "y",
}


def test_the_page_shows_the_default_policy_emailing_the_owner(client, owner):
    login(client, owner)
    page = client.get("/notifications").get_data(as_text=True)
    assert "Email the account owner" in page and "owner@customer.example" in page
    assert "Delivery log" in page and "Maintenance windows" in page and "Threshold alerts" in page


def test_create_edit_and_delete_a_policy(client, owner):
    login(client, owner)
    assert client.post("/notifications/policies", data=POLICY).status_code == 303
    policy = db.session.query(NotificationPolicy).filter_by(name="Night shift").one()
    assert policy.email_recipients == ["oncall@customer.example", "boss@customer.example"]
    assert (
        client.post(
            "/notifications/policies/update", data={**POLICY, "name": "Nights", "policy": policy.id}
        ).status_code
        == 303
    )
    db.session.refresh(policy)
    assert policy.name == "Nights"
    assert client.post("/notifications/policies/delete", data={"policy": policy.id}).status_code == 303
    assert db.session.get(NotificationPolicy, policy.id) is None


def test_a_bad_policy_is_refused_with_the_reason_and_keeps_what_was_typed(client, owner):
    login(client, owner)
    response = client.post("/notifications/policies", data={**POLICY, "email_recipients": "not-an-address"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "is not a valid email address" in body and "Night shift" in body
    response = client.post("/notifications/policies", data={**POLICY, "event_types": []})
    assert response.status_code == 422 and "Choose at least one event." in response.get_data(as_text=True)


def test_the_default_policy_cannot_be_deleted(client, owner):
    login(client, owner)
    client.get("/notifications")
    default = db.session.query(NotificationPolicy).filter_by(is_default=True).one()
    client.post("/notifications/policies/delete", data={"policy": default.id})
    assert db.session.get(NotificationPolicy, default.id) is not None


def test_resend_from_the_log_creates_a_new_delivery(app, client, owner, device):
    app.config.update(MAIL_PORT=9)
    raise_event(device, *ON_BATTERY)
    deliver_due(clock().now(), max_attempts=1)
    [failed] = deliveries()
    assert failed.status == "failed"
    login(client, owner)
    log = client.get("/notifications").get_data(as_text=True)
    assert "Failed" in log and "127.0.0.1:9" in log
    response = client.post(
        "/notifications/deliveries/resend", data={"delivery": failed.id}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and 'id="log"' in response.get_data(as_text=True)
    old, new = deliveries()
    assert (old.status, new.status, new.resent_from_id, new.target) == (
        "failed",
        "pending",
        old.id,
        old.target,
    )


def test_maintenance_window_and_thresholds_are_saved(client, owner, device):
    login(client, owner)
    response = client.post(
        "/notifications/maintenance",
        data={
            "device": device.id,
            "starts_at": clock().now().strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (clock().now().replace(microsecond=0)).strftime("%Y-%m-%dT23:59"),
            "note": "Battery swap",
        },
    )
    assert response.status_code == 303
    assert db.session.query(MaintenanceWindow).one().note == "Battery swap"
    response = client.post(
        "/notifications/thresholds",
        data={
            "load_above_percent": "85",
            "runtime_below_min": "",
            "voltage_low_v": "200",
            "voltage_high_v": "250",
        },
    )
    assert response.status_code == 303
    setting = db.session.get(ThresholdSetting, owner.company_id)
    assert (setting.load_above_percent, setting.runtime_below_min, setting.voltage_hysteresis_v) == (
        85,
        None,
        5.0,
    )
    bad = client.post("/notifications/thresholds", data={"voltage_low_v": "240", "voltage_high_v": "245"})
    assert bad.status_code == 422 and "well below" in bad.get_data(as_text=True)


def test_another_company_cannot_see_or_touch_policies_logs_or_windows(app, client, owner, device):
    app.config.update(MAIL_PORT=9)
    raise_event(device, *ON_BATTERY)
    [row] = deliveries()
    policy = db.session.query(NotificationPolicy).one()
    window = MaintenanceWindow(
        device_id=device.id,
        company_id=owner.company_id,
        starts_at=clock().now(),
        ends_at=clock().now().replace(year=clock().now().year + 1),
        note="x",
        created_at=clock().now(),
    )
    db.session.add(window)
    db.session.commit()
    stranger = make_user(email="eve@other.example")
    login(client, stranger)
    page = client.get("/notifications").get_data(as_text=True)
    assert "owner@customer.example" not in page and "Pump room UPS" not in page
    assert client.get(f"/notifications/policies/{policy.id}").status_code == 404
    assert (
        client.post("/notifications/policies/update", data={**POLICY, "policy": policy.id}).status_code == 404
    )
    assert client.post("/notifications/policies/delete", data={"policy": policy.id}).status_code == 404
    assert client.post("/notifications/deliveries/resend", data={"delivery": row.id}).status_code == 404
    assert client.post("/notifications/maintenance/delete", data={"window": window.id}).status_code == 404
    assert (
        client.post(
            "/notifications/maintenance",
            data={"device": device.id, "starts_at": "2030-01-01T00:00", "ends_at": "2030-01-02T00:00"},
        ).status_code
        == 404
    )
    assert len(deliveries()) == 1


def test_signed_out_users_are_sent_to_sign_in(client):
    assert client.get("/notifications").status_code == 302
    assert client.get("/renewal-support").status_code == 302


def test_first_custom_policy_keeps_the_default_email_policy(app, client):
    owner = make_user()
    login(client, owner)
    client.post("/notifications/policies", data={"name": "Slack only", "event_types": ["on_battery"], "severities": ["warning"],
                                                  "slack_webhook_url": "http://127.0.0.1:9/slack", "enabled": "y"})
    policies = db.session.scalars(db.select(NotificationPolicy).where(NotificationPolicy.company_id == owner.company_id)).all()
    assert sorted(p.is_default for p in policies) == [False, True]
