"""The dashboard's stored facts equal the computed ones, its tiles equal a naive count, and its cursor pages
cover every device exactly once, in order, for every sort and filter."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import CompanyKind, Device, DeviceStatus, OrderChannel
from portal.services.clock import clock, utcnow
from portal.services.fleet import operating_modes, overview, stored_facts
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share

STATUSES = ["OL", "OL CHRG", "OB DISCHRG", "OB DISCHRG LB", "OL RB", "OL BYPASS", "OL CAL", "OL TEST", "", "OB"]
MODELS = ["SMT750C", "SMT1500C", "SMC1500C"]
SITES = ["", "Lyon", "Paris", "paris annex"]
NOW = datetime(2026, 1, 10, 12, 0)


def _stale_after_s(app) -> int:
    return app.config["STALE_AFTER_S"]


@pytest.fixture
def fleet(app):
    """About 50 devices with ties in every sort key: few models, sites, loads and plans; some never reported."""
    rng = random.Random(2026)
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    today, now = clock().today(), clock().now()
    devices = []
    for i in range(52):
        device = make_device(owner, model=rng.choice(MODELS))
        device.name = rng.choice(["", "", f"rack-{i % 7}", f"Rack-{i % 3}"])
        device.site = rng.choice(SITES)
        devices.append(device)
        if i % 9 == 8:
            continue  # never reported: no status row, offline
        ups_status = rng.choice(STATUSES)
        variables = {"ups.status": ups_status}
        for name, choices in (("ups.load", [10, 20, 20, 55]), ("battery.charge", [100, 100, 71.5]), ("battery.runtime", [600, 1200])):
            if rng.random() < 0.8:
                variables[name] = rng.choice(choices)
        db.session.add(DeviceStatus(
            device_id=device.id, online=rng.random() > 0.15, ups_status=ups_status, variables=variables,
            last_seen_at=None if i % 13 == 5 else utcnow() - timedelta(seconds=rng.choice([5, 5, 5, 3600])),
        ))
        if i % 4 == 0:
            entitlements.start_trial(device, today=today, now=now)
    db.session.commit()
    code = entitlements.place_order(
        ordered_by=owner, channel=OrderChannel.PARTNER, sku="SCADV1Y", quantity=6, installer_email="installer@partner.example",
        today=today, now=now,
    )
    entitlements.assign_from_code(owner, code.code, devices[1:7], today=today, now=now)
    for device in devices[::5]:
        share(device, partner)
    db.session.commit()
    return owner, partner, devices


def _naive_mode(device: Device, stale_before: datetime) -> str:
    """The mode by the precedence table in Python, one device at a time."""
    status = db.session.get(DeviceStatus, device.id)
    if status is None or not status.online:
        freshness = "offline"
    elif status.last_seen_at is None or status.last_seen_at < stale_before:
        freshness = "stale"
    else:
        freshness = "online"
    return operating_modes.mode_key(status.ups_status if status else "", freshness, tiles_only=True)


def _tiles(page: str) -> dict[str, int]:
    return {mode: int(count) for mode, count in re.findall(r'data-mode="(\w+)">\s*<span class="tile-count">(\d+)<', page)}


def _walk(client, query: str, *, forward: bool = True) -> list[str]:
    """Serials of every page reached by following the Next (or, from the last page, Previous) links."""
    url = f"/dashboard?{query}"
    if not forward:
        first = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        pages = int(m.group(1)) if (m := re.search(r"Page 1 of (\d+)", first)) else 1
        url = f"/dashboard?{query}&page={pages}"
    seen, label = [], "Next ›" if forward else "‹ Previous"
    for _ in range(100):
        body = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        serials = re.findall(r'<tr data-serial="([^"]+)"', body)
        seen = seen + serials if forward else serials + seen
        link = re.search(r'<a class="button" href="([^"]+)"[^>]*>' + re.escape(label), body)
        if link is None:
            return seen
        url = unescape(link.group(1))
    raise AssertionError("the pages never ended")


def test_stored_facts_equal_computed_after_trial_activation_and_status_writes(app, fleet):
    assert stored_facts.mismatches(clock().today()) == []
    _, _, devices = fleet
    status = db.session.get(DeviceStatus, devices[0].id)
    status.ups_status, status.variables = "OB DISCHRG LB", {"ups.status": "OB DISCHRG LB", "ups.load": 42}
    db.session.commit()
    assert (status.status_mode, status.load_percent, status.charge_percent) == ("low_battery", 42.0, None)
    assert stored_facts.mismatches(clock().today()) == []
    activated = db.session.get(Device, devices[1].id)
    assert (activated.plan_today, activated.on_trial) == ("advanced", False)


def test_the_consistency_check_finds_a_stale_stored_fact(app, fleet):
    _, _, devices = fleet
    db.session.execute(DeviceStatus.__table__.update().where(DeviceStatus.device_id == devices[0].id).values(status_mode="bypass"))
    devices[1].plan_today = "basic"
    db.session.commit()
    found = {(m.device_id, m.fact) for m in stored_facts.mismatches(clock().today())}
    assert found == {(devices[0].id, "status_mode"), (devices[1].id, "plan_today")}


def test_the_renewals_job_rolls_an_ended_trial_over_to_basic(app):
    owner = make_user()
    device = make_device(owner)
    today = clock().today()
    entitlements.start_trial(device, today=today - timedelta(days=200), now=NOW)  # six months: ended some days ago
    entitlements.store_standing(device, today - timedelta(days=100))  # as stored when the trial still ran
    db.session.commit()
    assert (device.plan_today, device.on_trial) == ("standard", True)
    assert stored_facts.mismatches(today)
    result = app.test_cli_runner().invoke(args=["renewals"])
    assert result.exit_code == 0, result.output
    assert "stored plans rolled over to today: 1 device(s)" in result.output
    db.session.expire_all()
    device = db.session.get(Device, device.id)
    assert (device.plan_today, device.on_trial, device.standing_on) == ("basic", False, today)
    assert stored_facts.mismatches(today) == []


def test_a_lab_clock_move_rolls_stored_plans_over_both_ways(client, app, fleet):
    owner, _, devices = fleet
    login(client, owner)
    trial = devices[0]
    assert client.post("/lab/clock", data={"days": "200"}).status_code == 303
    assert stored_facts.mismatches(clock().today()) == []
    db.session.expire_all()
    assert db.session.get(Device, trial.id).plan_today == "basic"
    page = client.get("/dashboard?plan=standard", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert trial.serial not in page
    assert client.post("/lab/clock", data={"action": "reset"}).status_code == 303
    assert stored_facts.mismatches(clock().today()) == []
    db.session.expire_all()
    assert db.session.get(Device, trial.id).plan_today == "standard"


def test_a_roll_over_of_the_whole_fleet_reads_in_chunks_not_per_device(app, fleet, monkeypatch):
    """After a move of years every device is due: the roll-over reads a chunk of devices and their
    entitlements per round, so its queries do not grow with the fleet, and it still gets each one right."""
    from sqlalchemy import event

    from portal.services.licensing import stored_standing

    monkeypatch.setattr(stored_standing, "_CHUNK", 10)
    later = clock().today() + timedelta(days=3 * 365)
    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        rolled = stored_standing.roll_over(later)
        db.session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert rolled == len(fleet[2]) == 52
    assert len(selects) <= 2 * 6 + 1  # 6 chunks of at most 10 (devices, then their entitlements), one empty read
    assert stored_facts.mismatches(later) == []
    assert stored_standing.roll_over(later) == 0  # nothing is due twice


def test_tiles_equal_a_naive_count(client, app, fleet):
    owner, partner, devices = fleet
    stale_before = utcnow() - timedelta(seconds=_stale_after_s(app))
    for user, visible in ((owner, devices), (partner, devices[::5])):
        login(client, user)
        tiles = {k: v for k, v in _tiles(client.get("/dashboard").get_data(as_text=True)).items() if k in overview.MODES}
        naive = Counter(_naive_mode(device, stale_before) for device in visible)
        assert tiles == {key: naive.get(key, 0) for key in overview.MODES}
        client.post("/logout")


SORTS = sorted(overview.SORTS)


@pytest.mark.parametrize("sort", SORTS + [f"-{s}" for s in SORTS])
def test_cursor_pages_cover_every_device_once_in_sort_order(client, app, fleet, monkeypatch, sort):
    monkeypatch.setattr(overview, "PAGE_SIZE", 7)
    owner, _, devices = fleet
    login(client, owner)
    forward = _walk(client, f"sort={sort}")
    assert sorted(forward) == sorted(d.serial for d in devices)  # each device once
    assert _walk(client, f"sort={sort}", forward=False) == forward  # Previous links read the same order back
    # The pages put together are the one ORDER BY the seek follows (the database's own collation and nulls last).
    stale_before = utcnow() - timedelta(seconds=_stale_after_s(app))
    key = overview.sort_key(sort.lstrip("-"), stale_before)
    ordered = (key.desc() if sort.startswith("-") else key.asc()).nulls_last()
    everything = db.session.scalars(
        select(Device.serial).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id).order_by(ordered, Device.serial)
    ).all()
    assert forward == everything


@pytest.mark.parametrize("query", ["mode=online", "mode=offline", "mode=stale", "plan=standard", "plan=advanced",
                                   "model=SMT750C", "site=Paris", "q=rack-1", "q=PARIS", "q=smc", "q=as26"])
def test_filters_page_by_cursor_to_the_naive_set(client, app, fleet, monkeypatch, query):
    monkeypatch.setattr(overview, "PAGE_SIZE", 5)
    owner, _, devices = fleet
    login(client, owner)
    stale_before = utcnow() - timedelta(seconds=_stale_after_s(app))
    name, value = query.split("=")
    today = clock().today()
    wanted = {
        "mode": lambda d: _naive_mode(d, stale_before) == value,
        "plan": lambda d: entitlements.current_plan(d, today).key == value,
        "model": lambda d: d.model == value,
        "site": lambda d: d.site == value,
        "q": lambda d: any(field.lower().startswith(value.lower()) for field in (d.serial, d.name, d.model, d.site)),
    }[name]
    shown = _walk(client, f"{query}&sort=-load")
    assert len(shown) == len(set(shown))
    assert set(shown) == {d.serial for d in devices if wanted(d)}


@pytest.mark.parametrize("who", ["owner", "partner"])
def test_totals_lists_and_counts_under_every_filter_mix_equal_naive_ones(app, fleet, who):
    """The table's total under every mix of mode, plan, model and site filters, the model and site lists and
    the firmware-update count equal a device-by-device count."""
    from itertools import product

    from portal.services.fleet.firmware import update_available

    owner, partner, devices = fleet
    user, visible = (owner, devices) if who == "owner" else (partner, devices[::5])
    today, now = clock().today(), utcnow()
    stale_before = now - timedelta(seconds=_stale_after_s(app))
    modes = {d.id: _naive_mode(d, stale_before) for d in visible}
    plans = {d.id: entitlements.current_plan(d, today).key for d in visible}
    for mode, plan, model, site in product(["", "online", "offline", "stale"], ["", "standard", "advanced"],
                                           ["", "SMT750C"], ["", "Paris", "Lyon"]):
        filters = overview.Filters(mode=mode, plan=plan, model=model, site=site)
        seen = overview.overview(user, filters, today=today, now=now, stale_after_s=_stale_after_s(app))
        naive = [d for d in visible if (not mode or modes[d.id] == mode) and (not plan or plans[d.id] == plan)
                 and (not model or d.model == model) and (not site or d.site == site)]
        assert seen.total == len(naive), filters
    assert seen.models == sorted({d.model for d in visible})
    assert seen.sites == sorted({d.site for d in visible if d.site})
    assert seen.firmware_updates == sum(1 for d in visible if update_available(d.model, d.firmware))


def test_a_partner_pages_through_shared_devices_only(client, fleet, monkeypatch):
    monkeypatch.setattr(overview, "PAGE_SIZE", 4)
    _, partner, devices = fleet
    login(client, partner)
    assert sorted(_walk(client, "sort=name")) == sorted(d.serial for d in devices[::5])


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJuYW1lIiwxLDIsIm4iXQ", "%%%", "eyJhIjoxfQ", "x" * 500])
def test_a_bad_cursor_reads_from_the_page_number(client, fleet, cursor):
    owner, _, _ = fleet
    login(client, owner)
    response = client.get("/dashboard", query_string={"cursor": cursor, "page": "2"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Page 2 of 3" in response.get_data(as_text=True)


def test_old_page_links_still_work_and_match_the_cursor_pages(client, fleet):
    owner, _, _ = fleet
    login(client, owner)
    by_number = []
    for page in (1, 2, 3):
        body = client.get(f"/dashboard?sort=-charge&page={page}", headers={"HX-Request": "true"}).get_data(as_text=True)
        by_number += re.findall(r'<tr data-serial="([^"]+)"', body)
    assert by_number == _walk(client, "sort=-charge")


def test_a_cursor_for_another_sort_is_ignored():
    cursor = overview.Cursor("-load", 20.0, "AS26", True).encode()
    assert overview.Cursor.decode(cursor, "-load") == overview.Cursor("-load", 20.0, "AS26", True)
    assert overview.Cursor.decode(cursor, "load") is None
    dated = overview.Cursor("term_end", date(2026, 7, 1), "AS26", False)
    assert overview.Cursor.decode(dated.encode(), "term_end") == dated
