"""IDOR matrix: every route of the app's url_map that names an object, tried by six parties.

Owner, co-worker, an unrelated customer, the partner the device is shared with, an unrelated partner and
someone signed out each call the route on the world's objects (device, share, activation code and its
assignment, order, quote, policy, delivery, maintenance window, Renewal Support, lab mail, report with a
customer filter). The permitted parties get 2xx/3xx (or the status named in the row); everyone else a 404
that changes nothing; signed out, the sign-in page. Every rule in the url_map must be either in MATRIX or
in NO_OBJECT with the reason it names none, so a new route cannot slip in without a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.security.tenancy_world import (
    PARTIES,
    World,
    build_world,
    client_as,
    forget_cached_user,
    quick_password_hashes,
    snapshot,
)

A = ("owner", "coworker")  # the owning company
ACTORS = (*A, "partner")  # everyone who may act on the shared device
LAB_ADMINS = ("owner", "customer", "partner", "stranger_partner")  # company administrators, in lab mode


@dataclass(frozen=True)
class Row:
    kind: str
    method: str
    call: Callable[[World, str], tuple[dict, dict]]  # (url arguments, form or query fields)
    permitted: tuple[str, ...]
    ok: tuple[int, ...] = ()  # statuses a permitted party may get besides 2xx/3xx (a refused form, say)
    once: bool = False  # the first permitted call uses the object up: one world per permitted party


def device(extra: dict | None = None):
    return lambda w, party: ({"device_id": w.device.id}, dict(extra or {}))


def form(**fields):
    return lambda w, party: ({}, {k: (v(w, party) if callable(v) else v) for k, v in fields.items()})


def customer_filter(w, party):
    return {}, {"customer": w.customer_id}


MATRIX: dict[str, Row] = {
    "devices.show": Row("device", "GET", device(), ACTORS),
    "devices.live_status": Row("device", "GET", device(), ACTORS),
    "devices.command_log": Row("device", "GET", device(), ACTORS),
    "devices.events": Row("device", "GET", device(), ACTORS),
    "devices.history": Row("device", "GET", device(), ACTORS),
    "devices.confirm_reboot": Row("device", "GET", device({"group": "Outlet Group 1"}), ACTORS),
    "devices.send_command": Row("device", "POST", device({"type": "no.such.command"}), ACTORS),
    "devices.remove": Row("device", "POST", device(), A, once=True),
    # The battery logbook: owner, co-workers and the partner with a share may record a replacement.
    "devices.record_battery_replacement": Row(
        "device", "POST", device({"replaced_on": "2026-01-02", "sku": "APCRBC7", "note": "swap"}), ACTORS
    ),
    "labels.edit": Row("device", "POST", device({"name": "Rack 4 UPS", "site": "Harbour DC"}), ACTORS),
    "labels.bulk": Row("device", "POST", form(device=lambda w, p: w.device.id, site="Harbour DC"), ACTORS),
    # Bulk actions: every device id in the selection is checked like a URL's; one foreign id is a 404 and nothing runs.
    "bulk.preview": Row("device", "GET", form(device=lambda w, p: w.device.id, action="self_test"), ACTORS),
    "bulk.run": Row("device", "POST", form(device=lambda w, p: w.device.id, action="self_test"), ACTORS),
    # A batch belongs to the company whose user ran it; a partner sees its own batches only.
    "bulk.batch": Row("command batch", "GET", lambda w, p: ({"batch_id": w.extra["batch_id"]}, {}), A),
    "bulk.batch_progress": Row("command batch", "GET", lambda w, p: ({"batch_id": w.extra["batch_id"]}, {}), A),
    # Schedules: the selection is checked like bulk's; a schedule belongs to the company whose user made it.
    "schedules.new": Row("device", "GET", form(device=lambda w, p: w.device.id), ACTORS),
    "schedules.create": Row(
        "device", "POST", form(device=lambda w, p: w.device.id, kind="self_test", cadence="weekly", weekday="0", hour="3"),
        ACTORS,
    ),
    "schedules.pause": Row("schedule", "POST", lambda w, p: ({"schedule_id": w.extra["schedule_id"]}, {}), A, ok=(409,)),
    "schedules.resume": Row("schedule", "POST", lambda w, p: ({"schedule_id": w.extra["schedule_id"]}, {}), A, ok=(409,)),
    "schedules.delete": Row(
        "schedule", "POST", lambda w, p: ({"schedule_id": w.extra["schedule_id"]}, {}), A, once=True
    ),
    "sharing.device_shares": Row("device", "GET", device(), A),
    "sharing.share": Row("device", "POST", lambda w, p: ({"device_id": w.device.id}, {"email": f"{p}@new.example"}), A),
    "sharing.revoke_owner": Row("share", "POST", lambda w, p: ({"device_id": w.device.id}, {"share": w.share_id}), A),
    "sharing.revoke_recipient": Row("share", "POST", form(share=lambda w, p: w.share_id), ("partner",)),
    # Ownership transfer: the owner's administrators offer and cancel (a co-worker who is no administrator is told
    # so, 403); only the receiving company's addressee or administrators answer the offer.
    "transfers.device_form": Row("device", "GET", device(), A, ok=(403,)),
    "transfers.offer": Row(
        "device", "POST", lambda w, p: ({"device_id": w.device.id}, {"email": f"{p}@new.example"}), A, ok=(403, 422)
    ),
    "transfers.accept": Row("transfer offer", "POST", form(transfer=lambda w, p: w.extra["transfer_id"]), ("customer",)),
    "transfers.decline": Row("transfer offer", "POST", form(transfer=lambda w, p: w.extra["transfer_id"]), ("customer",)),
    "transfers.cancel": Row("transfer offer", "POST", form(transfer=lambda w, p: w.extra["transfer_id"]), A, ok=(403,)),
    "partner.assign": Row("device", "GET", form(device=lambda w, p: w.device.id), ACTORS),
    "partner.assign_preview": Row(
        "device", "POST", form(device=lambda w, p: w.device.id, code=lambda w, p: w.code, start="1"), ACTORS
    ),
    "partner.assign_confirm": Row(
        "device", "POST", form(device=lambda w, p: w.device.id, code=lambda w, p: w.code), ACTORS
    ),
    # The activation code and what is left on it: only for the company that holds the code (issue item 1).
    "partner.assign_done": Row("entitlement, code, order", "GET", form(entitlement=lambda w, p: w.entitlement_id), ("partner",)),
    "quotes.show": Row("quote", "GET", lambda w, p: ({"quote_id": w.quote_id}, {}), ("partner",)),
    "quotes.show_csv": Row("quote", "GET", lambda w, p: ({"quote_id": w.quote_id}, {}), ("partner",)),
    "quotes.show_xlsx": Row("quote", "GET", lambda w, p: ({"quote_id": w.quote_id}, {}), ("partner",)),
    "quotes.from_devices": Row("device", "POST", form(device=lambda w, p: w.device.id), ("partner",)),
    "subscriptions.buy": Row("device", "GET", form(device=lambda w, p: w.device.id), ACTORS),
    "subscriptions.pay": Row("device", "POST", form(device=lambda w, p: w.device.id), ACTORS, ok=(422,)),
    "notifications.edit_policy": Row("policy", "GET", lambda w, p: ({"policy_id": w.policy_id}, {}), A),
    "notifications.update_policy": Row(
        "policy", "POST",
        form(policy=lambda w, p: w.policy_id, name="Renamed", severities="critical", event_types="on_battery",
             email_recipients=lambda w, p: w.users["owner"].email, enabled="y"),
        A,
    ),
    "notifications.delete_policy": Row("policy", "POST", form(policy=lambda w, p: w.policy_id), A, once=True),
    "notifications.resend": Row("delivery", "POST", form(delivery=lambda w, p: w.delivery_id), A),
    "notifications.add_maintenance": Row(
        "device", "POST",
        form(device=lambda w, p: w.device.id, starts_at="2099-01-01T10:00", ends_at="2099-01-01T12:00"),
        A,
    ),
    "notifications.delete_maintenance": Row("maintenance window", "POST", form(window=lambda w, p: w.window_id), A, once=True),
    "renewal_support.accept": Row("Renewal Support", "POST", form(support=lambda w, p: w.support_id), ("partner",)),
    "renewal_support.decline": Row("Renewal Support", "POST", form(support=lambda w, p: w.support_id), ("partner",)),
    "renewal_support.leave": Row("Renewal Support", "POST", form(support=lambda w, p: w.support_id), ("partner",), once=True),
    "renewal_support.end": Row("Renewal Support", "POST", form(support=lambda w, p: w.support_id), A, once=True),
    # A UPS a company's NUT bridge reports: only that company claims it (one click, no code).
    "bridges.claim": Row(
        "bridge and its UPS", "POST",
        lambda w, p: ({"bridge_id": w.extra["bridge_id"]}, {"device": w.extra["bridged_device_id"]}), A, once=True,
    ),
    # A personal access token is its user's own: a co-worker of the same company may not revoke it either.
    "api_tokens.revoke": Row("API token", "POST", lambda w, p: ({"token_id": w.extra["api_token_id"]}, {}), ("owner",)),
    "lab_outbox.show": Row("outbox mail", "GET", lambda w, p: ({"name": w.mail_name}, {}), A),
    # The lab console's simulated devices and scenario runs belong to the lab, not to a company: every lab
    # administrator (each company's first user here) may use them, a co-worker who is no administrator may not.
    "lab.published": Row("lab device", "GET", lambda w, p: ({"serial": "AS0000000000"}, {}), LAB_ADMINS),
    "lab.stop_run": Row("lab scenario run", "POST", lambda w, p: ({"run_id": 1}, {}), LAB_ADMINS),
    **{
        f"reports.{name}": Row("report with customer filter", "GET", customer_filter, ACTORS)
        for name in ("inventory_csv", "inventory_xlsx", "renewals_csv", "renewals_xlsx", "outage_report",
                     "outages_csv", "outages_xlsx")
    },
    # The fleet's battery health, like the reports: the devices they cover, optionally one customer's.
    "battery.fleet": Row("report with customer filter", "GET", customer_filter, ACTORS),
}

# Routes that name no object of a company, and why.
NO_OBJECT = {
    "static": "files shipped with the portal",
    "team.join": "a secret invitation token, not a guessable id",
    "unsubscribe.confirm": "a signed unsubscribe token",
    "unsubscribe.unsubscribe": "a signed unsubscribe token",
    "renewal_support.open_invite": "a secret invitation token, checked against the signed-in email",
    "bridges.api_enrol": "a NUT bridge agent's one-time enrolment token (no session; docs/nut.md)",
    "bridges.api_devices": "a NUT bridge agent's own secret (Authorization header, no session); it names its UPSes by serial",
    "operations.healthz": "no company's data: whether the database and the broker answer",
    "api.openapi_document": "no company's data: the API's OpenAPI document",
    "api.docs": "no company's data: the API reference page",
    **{
        f"api.{name}": "a personal access token (Authorization header; a session grants nothing): "
        "tests/security/test_api_tenancy.py tries every /api/v1 operation with each party's token"
        for name in ("list_devices", "get_device", "get_live_state", "list_events", "get_telemetry", "get_timeline",
                     "list_commands", "send_command", "get_command", "get_inventory_report", "get_renewals_report",
                     "verify_code", "preview_assignment", "assign_code", "list_shares")
    },
    "operations.prometheus_metrics": "no company's data: totals for the operator, this machine or the token's bearer only",
    **{
        endpoint: "the signed-in company's own pages or forms: no id is read from the request"
        for endpoint in (
            "dashboard.home", "dashboard.index", "devices.claim", "lab.clock_page", "lab.move_clock",
            "lab_outbox.index", "licenses.verify", "auth.login", "auth.logout", "auth.signup",
            "notifications.index", "notifications.log", "notifications.create_policy", "notifications.new_policy",
            "notifications.save_thresholds", "partner.orders", "partner.place_order", "partner.shared_with_me",
            "quotes.index", "quotes.upload", "renewal_support.index", "renewal_support.invite", "reports.index",
            "sharing.index", "sharing.accept", "transfers.index", "subscriptions.overview", "team.index", "team.invite",
            "notifications.rotate_signing_secret", "bridges.index", "bridges.create", "labels.index",
            "schedules.index",
        )
    },
    **{
        endpoint: "a CSV names devices by serial; a serial outside the account is reported as a bad line, nothing changes"
        for endpoint in ("labels.preview", "labels.apply")
    },
    **{
        endpoint: "the lab console (lab administrators only): the simulated fleet, no company's object or id"
        for endpoint in (
            "lab.console", "lab.add_devices", "lab.remove_devices", "lab.start_run", "lab.run_tests", "lab.set_speed",
        )
    },
    **{
        endpoint: "the signed-in user's own account (or the sign-in under way in the session): no id is read"
        for endpoint in (
            "account.security", "account.change_password", "account.two_factor_enrol", "account.two_factor_confirm",
            "account.two_factor_disable", "auth.second_step", "api_tokens.index", "api_tokens.create",
        )
    },
}


def _cases():
    for endpoint, row in sorted(MATRIX.items()):
        if row.once:
            for party in row.permitted:
                yield pytest.param(endpoint, (party,), id=f"{endpoint}-{party}")
        else:
            yield pytest.param(endpoint, row.permitted, id=endpoint)


def test_every_route_has_a_row_or_a_reason(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - set(MATRIX) - set(NO_OBJECT))
    assert not missing, f"add these routes to the IDOR matrix (or to NO_OBJECT with a reason): {missing}"
    assert not set(MATRIX) & set(NO_OBJECT)
    gone = sorted((set(MATRIX) | set(NO_OBJECT)) - endpoints)
    assert not gone, f"rows for routes that no longer exist: {gone}"
    # Every URL argument names an object in the matrix, or a token/file listed with its reason.
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            assert rule.endpoint in MATRIX or "token" in NO_OBJECT.get(rule.endpoint, "") or rule.endpoint == "static"


def _request(app, client, endpoint: str, row: Row, world: World, party: str):
    from flask import url_for

    url_args, fields = row.call(world, party)
    with app.test_request_context():
        url = url_for(endpoint, **url_args)
    if row.method == "GET":
        return client.get(url, query_string=fields)
    return client.post(url, data=fields)


@pytest.mark.parametrize(("endpoint", "allowed"), list(_cases()))
def test_only_permitted_parties_reach_the_object(app, monkeypatch, endpoint, allowed):
    quick_password_hashes(monkeypatch)
    forget_cached_user(app)
    row = MATRIX[endpoint]
    world = build_world(app)
    for party in PARTIES:
        if party in row.permitted:
            continue
        client = client_as(app, world, party)
        before = snapshot()
        response = _request(app, client, endpoint, row, world, party)
        if party == "signed_out":
            assert response.status_code == 302 and "/login" in response.location, f"{endpoint} signed out"
        else:
            assert response.status_code == 404, f"{endpoint} as {party}: {response.status_code}"
        assert snapshot() == before, f"{endpoint} as {party} changed something"
    for party in allowed:
        response = _request(app, client_as(app, world, party), endpoint, row, world, party)
        assert response.status_code < 400 or response.status_code in row.ok, (
            f"{endpoint} as {party}: {response.status_code}"
        )
        response.close()  # a streamed download (CSV) ends its request context here, not at garbage collection


def test_the_device_owner_cannot_read_the_partners_code_after_an_assignment(app, monkeypatch):
    """Issue item 1: the owner and other partners of the device get a 404, never the code."""
    quick_password_hashes(monkeypatch)
    forget_cached_user(app)
    world = build_world(app)
    url = f"/partner/assign/done?entitlement={world.entitlement_id}"
    for party in ("owner", "coworker", "stranger_partner", "customer"):
        response = client_as(app, world, party).get(url)
        assert response.status_code == 404
        assert world.code not in response.get_data(as_text=True)
    page = client_as(app, world, "partner").get(url).get_data(as_text=True)
    assert "licenses left" in page


def test_a_company_reads_only_its_own_lab_mail(app, monkeypatch):
    """Issue item 2: the outbox lists and opens only mail sent for the company or to its users."""
    quick_password_hashes(monkeypatch)
    forget_cached_user(app)
    world = build_world(app)
    for party, sees in (("owner", True), ("coworker", True), ("partner", False), ("customer", False)):
        client = client_as(app, world, party)
        assert ("Your share code" in client.get("/lab/outbox").get_data(as_text=True)) is sees, party
        assert client.get(f"/lab/outbox/{world.mail_name}").status_code == (200 if sees else 404)
