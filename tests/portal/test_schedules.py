"""Scheduled fleet actions: made over HTTP, run by `flask maintenance` through a real broker, once per occurrence."""

import re
import threading
from datetime import datetime, timedelta

import pytest

from devicelink.contract import ResultStatus, result_payload
from portal.device_link import publish_command
from portal.extensions import db
from portal.models import CommandBatch, CompanyKind, DeviceCommand, FleetSchedule
from portal.services.clock import clock
from portal.services.fleet import commands, scheduled_runs
from portal.services.fleet.firmware import update_available
from portal.services.fleet.occurrences import Cadence, next_after
from portal.services.fleet.schedules import first_wave_size
from portal.services.fleet.telemetry_store import record_command_result
from portal.services.licensing import entitlements
from portal.services.partners import sharing
from tests.portal.factories import login, make_device, make_user, share
from tests.portal.test_commands import DeviceInbox, _online, broker, linked_app  # noqa: F401 - fixtures
from tests.security.tenancy_world import forget_cached_user

TOKEN = re.compile(r'name="csrf_token"[^>]* value="([^"]+)"')


def _ready_device(owner, **kw):
    device = make_device(owner, **kw)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    _online(device)
    return device


def _counts():
    return (
        db.session.scalar(db.select(db.func.count(FleetSchedule.id))),
        db.session.scalar(db.select(db.func.count(CommandBatch.id))),
        db.session.scalar(db.select(db.func.count(DeviceCommand.id))),
    )


def _move_clock(delta: timedelta):
    clock().advance(delta)
    db.session.commit()


def _move_past(moment: datetime):
    _move_clock(moment - clock().now() + timedelta(minutes=5))


def _maintenance(app) -> str:
    result = app.test_cli_runner().invoke(args=["maintenance"])
    assert result.exit_code == 0, result.output
    return result.output


def _weekly(client, device_ids=(), **form):
    data = {"kind": "self_test", "cadence": "weekly", "weekday": "0", "hour": "3", "device": list(device_ids)} | form
    return client.post("/schedules/", data=data)


# --- when: the pure occurrence rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "after", "expected"),
    [
        (Cadence("weekly", 3, weekday=0), datetime(2026, 12, 7, 2, 59), datetime(2026, 12, 7, 3)),  # a Monday
        (Cadence("weekly", 3, weekday=0), datetime(2026, 12, 7, 3), datetime(2026, 12, 14, 3)),  # strictly after
        (Cadence("weekly", 23, weekday=6), datetime(2026, 12, 7, 10), datetime(2026, 12, 13, 23)),
        (Cadence("monthly", 2, day_of_month=31), datetime(2027, 4, 1), datetime(2027, 4, 30, 2)),  # clamped
        (Cadence("monthly", 2, day_of_month=31), datetime(2027, 1, 31, 2), datetime(2027, 2, 28, 2)),
        (Cadence("monthly", 0, day_of_month=1), datetime(2026, 12, 31, 23), datetime(2027, 1, 1, 0)),
    ],
)
def test_the_next_occurrence_is_strictly_after_the_time_given(cadence, after, expected):
    assert next_after(cadence, after) == expected


@pytest.mark.parametrize(("devices", "percent", "size"), [(10, 10, 1), (9, 10, 1), (11, 10, 2), (1, 10, 1), (40, 25, 10), (0, 10, 0)])
def test_the_first_wave_is_the_share_rounded_up_and_at_least_one_device(devices, percent, size):
    assert first_wave_size(devices, percent) == size


# --- the page: create, pause, resume, delete ----------------------------------------------------------------


def test_a_schedule_is_created_paused_resumed_and_deleted_with_csrf(app, client):
    owner = make_user()
    device = make_device(owner)
    login(client, owner)
    app.config["WTF_CSRF_ENABLED"] = True
    token = TOKEN.search(client.get("/schedules/").get_data(as_text=True)).group(1)

    assert _weekly(client, [device.id]).status_code == 400  # no token: refused, nothing stored
    assert _counts()[0] == 0
    response = _weekly(client, [device.id], csrf_token=token)
    assert response.status_code == 303
    schedule = db.session.scalar(db.select(FleetSchedule))
    assert schedule.next_run_at > clock().now() and schedule.next_run_at.weekday() == 0 and schedule.next_run_at.hour == 3
    page = client.get("/schedules/").get_data(as_text=True)
    assert "Every Monday at 03:00 UTC" in page and schedule.next_run_at.strftime("%a %d %b %Y, %H:%M") in page
    assert "1 device" in page and "Not yet" in page

    assert client.post(f"/schedules/{schedule.id}/pause").status_code == 400
    assert client.post(f"/schedules/{schedule.id}/pause", data={"csrf_token": token}).status_code == 303
    db.session.refresh(schedule)
    assert schedule.status == "paused"
    assert 'data-status="paused"' in client.get("/schedules/").get_data(as_text=True)
    assert client.post(f"/schedules/{schedule.id}/pause", data={"csrf_token": token}).status_code == 409  # said plainly
    assert client.post(f"/schedules/{schedule.id}/resume", data={"csrf_token": token}).status_code == 303
    db.session.refresh(schedule)
    assert schedule.status == "active" and schedule.next_run_at > clock().now()
    assert client.post(f"/schedules/{schedule.id}/delete", data={"csrf_token": token}).status_code == 303
    assert _counts()[0] == 0


def test_the_bulk_preview_and_batch_pages_lead_to_schedules(app, client):
    owner = make_user()
    device = _ready_device(owner)
    login(client, owner)
    preview = client.get("/bulk/preview", query_string={"device": device.id, "action": "self_test"}).get_data(as_text=True)
    assert f'href="/schedules/new?device={device.id}"' in preview
    form = client.get(f"/schedules/new?device={device.id}").get_data(as_text=True)
    assert "A recurring self-test" in form and "A firmware rollout in waves" in form and device.serial in form


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"hour": "25"}, "The hour is a whole number from 0 to 23"),
        ({"hour": "-1"}, "The hour is a whole number from 0 to 23"),
        ({"hour": ""}, "The hour is a whole number from 0 to 23"),
        ({"cadence": "monthly", "day_of_month": "32"}, "The day of the month is a whole number from 1 to 31"),
        ({"cadence": "monthly", "day_of_month": "0"}, "The day of the month is a whole number from 1 to 31"),
        ({"weekday": "7"}, "Choose the day of the week"),
        ({"cadence": "daily"}, "Choose how often: weekly or monthly"),
        ({"device": []}, "Choose a site, or select at least one device"),
        ({"device": [], "site": "Nowhere"}, "None of your devices is at a site named Nowhere"),
        ({"kind": "firmware_rollout", "wave_percent": "0"}, "The first wave is 1 to 100 % of the devices"),
        ({"kind": "firmware_rollout", "soak_hours": "abc"}, "The soak period is 1 to 720 hours"),
    ],
)
def test_bad_input_says_why_and_stores_nothing(app, client, form, message):
    owner = make_user()
    device = make_device(owner)
    login(client, owner)
    response = _weekly(client, [device.id], **form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _counts() == (0, 0, 0)


def test_day_31_of_a_monthly_schedule_runs_on_the_last_day_of_shorter_months(app, client):
    owner = make_user()
    device = make_device(owner)
    login(client, owner)
    assert _weekly(client, [device.id], cadence="monthly", day_of_month="31", hour="2").status_code == 303
    schedule = db.session.scalar(db.select(FleetSchedule))
    assert schedule.next_run_at.hour == 2 and (schedule.next_run_at + timedelta(days=1)).day == 1  # the month's last day
    assert "Monthly on day 31 (or the month&#39;s last day) at 02:00 UTC" in client.get("/schedules/").get_data(as_text=True)


# --- tenancy -----------------------------------------------------------------------------------------------


def test_another_company_cannot_see_or_change_a_schedule(app, client):
    owner, stranger = make_user(), make_user()
    device = make_device(owner)
    login(client, owner)
    _weekly(client, [device.id])
    schedule = db.session.scalar(db.select(FleetSchedule))
    forget_cached_user(app)
    other = app.test_client()
    login(other, stranger)
    assert f'data-schedule="{schedule.id}"' not in other.get("/schedules/").get_data(as_text=True)
    for action in ("pause", "resume", "delete"):
        assert other.post(f"/schedules/{schedule.id}/{action}").status_code == 404
    assert other.get(f"/schedules/new?device={device.id}").status_code == 404
    assert _weekly(other, [device.id]).status_code == 404  # another company's device in the form
    db.session.refresh(schedule)
    assert schedule.status == "active" and _counts()[0] == 1


def test_a_partner_whose_share_ended_loses_the_device_from_its_schedule(linked_app, client, broker):  # noqa: F811
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    device = _ready_device(owner)
    row = share(device, partner)
    login(client, partner)
    assert _weekly(client, [device.id]).status_code == 303
    schedule = db.session.scalar(db.select(FleetSchedule))
    sharing.revoke_as_owner(owner, device, row.id, now=clock().now())
    db.session.commit()
    assert client.get(f"/schedules/new?device={device.id}").status_code == 404

    _move_past(schedule.next_run_at)
    assert "1 run(s) started" in _maintenance(linked_app)
    db.session.refresh(schedule)
    assert schedule.last_run_at is not None and schedule.last_batch_id is None  # the device was skipped
    assert _counts()[1:] == (0, 0)
    assert "No device to run on" in client.get("/schedules/").get_data(as_text=True)


# --- running: once per occurrence ----------------------------------------------------------------------------


def test_a_weekly_self_test_runs_once_when_due_through_the_broker(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    devices = [_ready_device(owner) for _ in range(2)]
    inboxes = [DeviceInbox(broker.port, device.serial) for device in devices]
    try:
        login(client, owner)
        _weekly(client, [d.id for d in devices])
        schedule = db.session.scalar(db.select(FleetSchedule))
        due_at = schedule.next_run_at
        assert "0 run(s) started" in _maintenance(linked_app)  # not due yet
        _move_past(due_at)
        assert "1 run(s) started" in _maintenance(linked_app)
        assert {inbox.next()["type"] for inbox in inboxes} == {"test.battery.start"}
        assert "0 run(s) started" in _maintenance(linked_app)  # the same occurrence is not run again
        assert _counts() == (1, 1, 2)
        db.session.refresh(schedule)
        assert schedule.next_run_at == due_at + timedelta(days=7)
        page = client.get("/schedules/").get_data(as_text=True)
        assert f'href="/bulk/batches/{schedule.last_batch_id}"' in page
        assert (due_at + timedelta(days=7)).strftime("%a %d %b %Y, %H:%M") + " UTC" in page
        batch = client.get(f"/bulk/batches/{schedule.last_batch_id}").get_data(as_text=True)
        assert "Start a self-test" in batch and batch.count('data-state="sent"') == 2
    finally:
        for inbox in inboxes:
            inbox.close()


def test_two_passes_at_once_run_an_occurrence_once(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    device = _ready_device(owner)
    login(client, owner)
    _weekly(client, [device.id])
    schedule = db.session.scalar(db.select(FleetSchedule))
    _move_past(schedule.next_run_at)
    now, today = clock().now(), clock().today()
    db.session.commit()
    start, runs, errors = threading.Barrier(2), [], []

    def one_pass():
        with linked_app.app_context():
            try:
                start.wait()
                runs.append(scheduled_runs.run_due(now=now, today=today, publish=publish_command).runs)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and sorted(runs) == [0, 1]
    assert _counts() == (1, 1, 1)


def test_a_claim_on_an_occurrence_already_taken_changes_nothing(app):
    owner = make_user()
    device = make_device(owner)
    due = datetime(2026, 12, 7, 3)
    db.session.add(FleetSchedule(
        company_id=owner.company_id, created_by_user_id=owner.id, kind="self_test", device_ids=[device.id],
        cadence="weekly", weekday=0, hour=3, next_run_at=due, created_at=due, status="active", status_reason="",
    ))
    db.session.commit()
    schedule_id = db.session.scalar(db.select(FleetSchedule.id))
    assert scheduled_runs.claim(schedule_id, due, due + timedelta(days=7)) is True
    assert scheduled_runs.claim(schedule_id, due, due + timedelta(days=7)) is False  # a pass that read it late


def test_a_clock_moved_30_days_on_runs_a_missed_schedule_once(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    device = _ready_device(owner)
    login(client, owner)
    _weekly(client, [device.id])
    schedule = db.session.scalar(db.select(FleetSchedule))
    _move_clock(timedelta(days=30))  # four or five Mondays missed
    assert "1 run(s) started" in _maintenance(linked_app)
    assert "0 run(s) started" in _maintenance(linked_app)
    db.session.refresh(schedule)
    now = clock().now()
    assert _counts()[1] == 1
    assert now < schedule.next_run_at <= now + timedelta(days=7) and schedule.next_run_at.weekday() == 0


# --- firmware rollout in waves --------------------------------------------------------------------------------


def _rollout(client, devices, **form):
    data = {"kind": "firmware_rollout", "device": [d.id for d in devices]} | form
    return client.post("/schedules/", data=data)


def _first_wave(schedule):
    return db.session.get(CommandBatch, schedule.first_wave_batch_id)


def _finish(batch, status):
    for item in batch.items:
        if item.command_id:
            record_command_result(result_payload(item.command_id, status, ts=0), clock().now())
    db.session.commit()


def test_a_rollout_sends_the_rest_only_after_the_soak_with_no_failure(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    devices = [_ready_device(owner) for _ in range(10)]
    assert update_available(devices[0].model, devices[0].firmware)
    login(client, owner)
    assert _rollout(client, devices).status_code == 303  # defaults: 10 %, 24 h
    schedule = db.session.scalar(db.select(FleetSchedule))
    first = _first_wave(schedule)
    assert len(first.items) == 1 and first.items[0].command.type == "firmware.upgrade"
    assert "0 run(s) started" in _maintenance(linked_app)  # the first wave still running: nothing more
    _finish(first, ResultStatus.DONE)
    _move_clock(timedelta(hours=23))
    assert "0 run(s) started" in _maintenance(linked_app)  # still soaking
    _move_clock(timedelta(hours=2))
    assert "1 run(s) started" in _maintenance(linked_app)
    db.session.refresh(schedule)
    second = db.session.get(CommandBatch, schedule.last_batch_id)
    assert second.id != first.id
    assert {item.device_id for item in second.items} == {d.id for d in devices} - {first.items[0].device_id}
    _finish(second, ResultStatus.DONE)
    assert "1 rollout(s) finished" in _maintenance(linked_app)
    db.session.refresh(schedule)
    assert schedule.status == "done" and _counts()[2] == 10


def test_a_failed_device_in_the_first_wave_pauses_the_rollout_until_resumed(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    devices = [_ready_device(owner) for _ in range(4)]
    login(client, owner)
    _rollout(client, devices, wave_percent="50", soak_hours="1")
    schedule = db.session.scalar(db.select(FleetSchedule))
    first = _first_wave(schedule)
    assert len(first.items) == 2
    _move_clock(timedelta(hours=2))
    assert "0 run(s) started" in _maintenance(linked_app)  # soaked, but the first wave has not finished
    failing, silent = first.items
    record_command_result(result_payload(failing.command_id, ResultStatus.FAILED, ts=0), clock().now())
    commands.expire_overdue(clock().now() + timedelta(minutes=16))  # the ingest worker's housekeeping: timed out
    db.session.commit()
    assert silent.command.status == "timed_out"
    assert "1 rollout(s) paused after a failure" in _maintenance(linked_app)
    assert "0 run(s) started" in _maintenance(linked_app)
    page = client.get("/schedules/").get_data(as_text=True)
    assert "Paused: 2 devices of the first wave failed" in page and first.items[0].device.serial in page
    assert _counts()[1] == 1  # no second wave

    assert client.post(f"/schedules/{schedule.id}/resume").status_code == 303  # the user chose to go on
    assert "1 run(s) started" in _maintenance(linked_app)
    db.session.refresh(schedule)
    assert len(db.session.get(CommandBatch, schedule.last_batch_id).items) == 2


def test_a_cancelled_rollout_sends_no_further_wave(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    devices = [_ready_device(owner) for _ in range(3)]
    login(client, owner)
    _rollout(client, devices, soak_hours="1")
    schedule = db.session.scalar(db.select(FleetSchedule))
    _finish(_first_wave(schedule), ResultStatus.DONE)
    assert client.post(f"/schedules/{schedule.id}/delete").status_code == 303
    _move_clock(timedelta(hours=2))
    assert "0 run(s) started" in _maintenance(linked_app)
    assert _counts()[1:] == (1, 1)


def test_a_site_schedule_takes_the_devices_at_the_site_when_it_runs(app, client):
    owner = make_user()
    first = make_device(owner)
    first.site = "Harbour DC"
    db.session.commit()
    login(client, owner)
    assert _weekly(client, site="Harbour DC").status_code == 303
    later, elsewhere = make_device(owner), make_device(owner)
    later.site, elsewhere.site = "Harbour DC", "Leeds"
    db.session.commit()
    _move_past(db.session.scalar(db.select(FleetSchedule.next_run_at)))
    assert "1 run(s) started" in _maintenance(app)
    batch = db.session.scalar(db.select(CommandBatch))
    assert {item.device_id for item in batch.items} == {first.id, later.id}
    assert all(item.command_id is None and "needs the Standard plan" in item.refusal for item in batch.items)  # with why


def test_a_rollout_paused_by_hand_still_pauses_on_a_failure_after_resuming(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    devices = [_ready_device(owner) for _ in range(2)]
    login(client, owner)
    _rollout(client, devices, wave_percent="50", soak_hours="1")
    schedule = db.session.scalar(db.select(FleetSchedule))
    client.post(f"/schedules/{schedule.id}/pause")
    client.post(f"/schedules/{schedule.id}/resume")
    _finish(_first_wave(schedule), ResultStatus.FAILED)
    _move_clock(timedelta(hours=2))
    assert "1 rollout(s) paused after a failure" in _maintenance(linked_app)
    assert _counts()[1] == 1
