"""A GET never writes: every GET route of the app, generated from its url_map, runs with no INSERT/UPDATE/DELETE.

Polls (the device page's live partials every few seconds) used to expire overdue commands and commit;
writes belong to POSTs and to the workers. New routes are covered automatically: the test fails for a GET
rule whose arguments it cannot fill, so nobody can add one without saying what it reads.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import CompanyKind, DeviceCommand, DeviceStatus
from portal.services.clock import utcnow
from tests.portal.factories import login, make_device, make_user, share


@contextmanager
def counting_writes():
    """Count INSERT, UPDATE and DELETE statements sent to the database while the block runs."""
    writes: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE", "REPLACE"}:
            writes.append(statement.split("\n", 1)[0][:120])

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before_execute)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)


@pytest.fixture
def world(app):
    """An owner with a device that has an overdue command, shared with a partner that holds a quote."""
    owner = make_user()
    partner = make_user(CompanyKind.PARTNER)
    device = make_device(owner)
    share(device, partner)
    now = utcnow()
    db.session.add(DeviceStatus(device_id=device.id, online=True, last_seen_at=now, ups_status="OL", variables={"ups.status": "OL"}))
    db.session.add(
        DeviceCommand(
            id="overdue-1", device_id=device.id, type="test.battery.start", args={}, status="sent",
            issued_by_user_id=owner.id, issued_at=now - timedelta(hours=1), updated_at=now - timedelta(hours=1),
        )
    )
    db.session.commit()
    return owner, partner, device


def _arguments(app, world) -> dict[str, str | int]:
    owner, partner, device = world
    return {"device_id": device.id, "policy_id": 1, "quote_id": "00000000", "token": "not-a-token", "name": "none.eml",
            "filename": "app.css", "serial": "AS0000000000", "command_id": "overdue-1", "token_id": 1,
            "batch_id": 1}


def _get_rules(app):
    return sorted((rule for rule in app.url_map.iter_rules() if "GET" in rule.methods), key=lambda rule: rule.rule)


@pytest.mark.parametrize("as_partner", [False, True], ids=["owner", "partner"])
def test_no_get_route_writes_to_the_database(app, client, world, as_partner):
    owner, partner, _ = world
    login(client, partner if as_partner else owner)
    arguments = _arguments(app, world)
    checked = 0
    for rule in _get_rules(app):
        missing = set(rule.arguments) - set(arguments)
        assert not missing, f"{rule.rule}: tell this test what to fill in for {sorted(missing)}"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{name: arguments[name] for name in rule.arguments})
        for headers in ({}, {"HX-Request": "true"}):
            with counting_writes() as writes:
                response = client.get(url, headers=headers)
            assert response.status_code < 500, f"GET {url} answered {response.status_code}"
            assert writes == [], f"GET {url} wrote: {writes}"
            checked += 1
    assert checked >= 80


def test_the_device_page_poll_leaves_an_overdue_command_for_the_worker(app, client, world):
    owner, _, device = world
    login(client, owner)
    for path in (f"/devices/{device.id}", f"/devices/{device.id}/command-log", f"/devices/{device.id}/live"):
        with counting_writes() as writes:
            assert client.get(path, headers={"HX-Request": "true"}).status_code == 200
        assert writes == []
    db.session.expire_all()
    assert db.session.get(DeviceCommand, "overdue-1").status == "sent"  # still open: expiring it is the worker's job
