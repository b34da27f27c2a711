"""Bulk actions: the preview says who runs and why not, the batch goes through a real broker, foreign ids run nothing."""

import pytest

from devicelink.contract import ResultStatus, result_payload
from portal.extensions import db
from portal.models import CommandBatch, CommandBatchItem, CompanyKind, DeviceCommand, DeviceStatus
from portal.services.clock import clock
from portal.services.fleet import bulk_actions
from portal.services.fleet.telemetry_store import record_command_result
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share
from tests.portal.test_commands import DeviceInbox, _give, _online, broker, linked_app  # noqa: F401 - fixtures
from tests.security.tenancy_world import forget_cached_user


def _trial(device):
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()


def _counts():
    return (
        db.session.scalar(db.select(db.func.count(DeviceCommand.id))),
        db.session.scalar(db.select(db.func.count(CommandBatch.id))),
        db.session.scalar(db.select(db.func.count(CommandBatchItem.id))),
    )


def test_the_preview_says_which_devices_run_and_why_the_others_do_not(app, client):
    owner = make_user()
    ready, basic, offline, advanced = (make_device(owner) for _ in range(4))
    for device in (ready, offline, advanced):
        _trial(device)
    for device in (ready, basic, advanced):
        _online(device)
    _give(advanced, owner, "SCADV1Y")
    login(client, owner)
    ids = [ready.id, basic.id, offline.id, advanced.id]

    page = client.get("/bulk/preview", query_string={"device": ids, "action": "self_test"}).get_data(as_text=True)
    assert "Will run: Start a self-test on 2 devices" in page
    assert "needs the Standard plan" in page and "The device is offline" in page

    reboot = client.get(
        "/bulk/preview", query_string={"device": ids, "action": "outlet_reboot", "group": "Outlet Group 1"}
    ).get_data(as_text=True)
    assert "on 1 device" in reboot and "needs the Advanced plan" in reboot
    assert _counts() == (0, 0, 0)  # a preview sends and stores nothing


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"action": "self_test"}, 422, "Select at least one device"),
        ({"device": "SELF", "action": "self_test"}, 404, ""),
        ({"device": "1", "action": "format.disk"}, 422, "Choose an action"),
        ({"device": "1", "action": "sensitivity", "sensitivity": "extreme"}, 422, "Choose an input sensitivity"),
        ({"device": "1", "action": "outlet_reboot"}, 422, "Name the outlet group"),
    ],
)
def test_bad_selections_and_settings_say_why(app, client, query, status, message):
    owner = make_user()
    make_device(owner)
    login(client, owner)
    response = client.get("/bulk/preview", query_string=query)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_a_batch_is_capped(app, client, monkeypatch):
    monkeypatch.setattr(bulk_actions, "MAX_DEVICES", 3)
    owner = make_user()
    ids = [make_device(owner).id for _ in range(4)]
    login(client, owner)
    page = client.get("/bulk/preview", query_string={"device": ids, "action": "self_test"})
    assert page.status_code == 422 and "at most 3 devices at once; 4 are selected" in page.get_data(as_text=True)
    every = client.get("/bulk/preview", query_string={"all": "1", "action": "self_test"})
    assert every.status_code == 422
    refused = client.post("/bulk/batches", data={"device": ids, "action": "self_test"})
    assert refused.status_code == 422 and _counts() == (0, 0, 0)


def test_a_foreign_device_id_injected_in_the_form_runs_nothing(app, client):
    owner, stranger = make_user(), make_user()
    mine, theirs = make_device(owner), make_device(stranger)
    for device in (mine, theirs):
        _trial(device)
        _online(device)
    login(client, owner)
    assert client.get("/bulk/preview", query_string={"device": [mine.id, theirs.id], "action": "self_test"}).status_code == 404
    response = client.post("/bulk/batches", data={"device": [mine.id, theirs.id], "action": "self_test"})
    assert response.status_code == 404
    assert _counts() == (0, 0, 0)


def test_all_matching_the_filters_takes_only_what_the_user_sees(app, client):
    owner, stranger = make_user(), make_user()
    mine = [make_device(owner, model="SMT750") for _ in range(2)] + [make_device(owner, model="SMT1500C")]
    make_device(stranger, model="SMT750")
    login(client, owner)
    page = client.get("/bulk/preview", query_string={"all": "1", "model": "SMT750", "action": "self_test"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert all(device.serial in text for device in mine[:2]) and mine[2].serial not in text
    assert "Will not run on 2 devices" in text  # Basic, no trial, offline


def test_a_batch_reaches_every_device_through_the_broker_and_reports_progress(linked_app, client, broker):  # noqa: F811
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    devices = [make_device(owner) for _ in range(3)]
    basic = make_device(owner)
    _online(basic)
    for device in devices:
        _trial(device)
        _online(device)
        share(device, partner)
    inboxes = [DeviceInbox(broker.port, device.serial) for device in devices]
    try:
        login(client, partner)  # a partner acts on the devices shared with it
        response = client.post(
            "/bulk/batches", data={"device": [d.id for d in devices], "action": "sensitivity", "sensitivity": "low"}
        )
        assert response.status_code == 303
        messages = [inbox.next() for inbox in inboxes]
        assert {m["type"] for m in messages} == {"input.sensitivity"} and all(m["args"] == {"sensitivity": "low"} for m in messages)
        batch = db.session.scalar(db.select(CommandBatch))
        progress = client.get(f"/bulk/batches/{batch.id}/progress", headers={"HX-Request": "true"})
        assert progress.status_code == 200 and progress.get_data(as_text=True).count('data-state="sent"') == 3

        for message in messages:
            record_command_result(result_payload(message["id"], ResultStatus.DONE, ts=0), clock().now())
        record_command_result(result_payload(messages[0]["id"], ResultStatus.FAILED, ts=0), clock().now())  # late: ignored
        db.session.commit()
        done = client.get(f"/bulk/batches/{batch.id}/progress", headers={"HX-Request": "true"})
        assert done.status_code == 286  # htmx stops polling
        assert "3 succeeded" in done.get_data(as_text=True)
    finally:
        for inbox in inboxes:
            inbox.close()

    # The basic device is not shared with the partner: in the form it is a 404, and nothing more is sent.
    before = _counts()
    assert client.post("/bulk/batches", data={"device": [basic.id], "action": "self_test"}).status_code == 404
    assert _counts() == before
    forget_cached_user(linked_app)  # the tests share one app context: flask-login's cached user must go
    other = linked_app.test_client()
    login(other, make_user())  # another company's user cannot open the batch
    assert other.get(f"/bulk/batches/{batch.id}").status_code == 404


def test_a_device_that_went_offline_after_the_preview_is_recorded_as_not_run(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    device = make_device(owner)
    _trial(device)
    _online(device)
    login(client, owner)
    assert "on 1 device" in client.get("/bulk/preview", query_string={"device": device.id, "action": "self_test"}).get_data(as_text=True)
    db.session.get(DeviceStatus, device.id).online = False
    db.session.commit()
    client.post("/bulk/batches", data={"device": device.id, "action": "self_test"})
    page = client.get(f"/bulk/batches/{db.session.scalar(db.select(CommandBatch.id))}").get_data(as_text=True)
    assert "not run" in page and "The device is offline" in page
    assert _counts()[0] == 0
