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
    "sharing.device_shares": Row("device", "GET", device(), A),
    "sharing.share": Row("device", "POST", lambda w, p: ({"device_id": w.device.id}, {"email": f"{p}@new.example"}), A),
    "sharing.revoke_owner": Row("share", "POST", lambda w, p: ({"device_id": w.device.id}, {"share": w.share_id}), A),
    "sharing.revoke_recipient": Row("share", "POST", form(share=lambda w, p: w.share_id), ("partner",)),
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
    "lab_outbox.show": Row("outbox mail", "GET", lambda w, p: ({"name": w.mail_name}, {}), A),
    **{
        f"reports.{name}": Row("report with customer filter", "GET", customer_filter, ACTORS)
        for name in ("inventory_csv", "inventory_xlsx", "renewals_csv", "renewals_xlsx", "outage_report",
                     "outages_csv", "outages_xlsx")
    },
}

# Routes that name no object of a company, and why.
NO_OBJECT = {
    "static": "files shipped with the portal",
    "team.join": "a secret invitation token, not a guessable id",
    "unsubscribe.confirm": "a signed unsubscribe token",
    "unsubscribe.unsubscribe": "a signed unsubscribe token",
    "renewal_support.open_invite": "a secret invitation token, checked against the signed-in email",
    **{
        endpoint: "the signed-in company's own pages or forms: no id is read from the request"
        for endpoint in (
            "dashboard.home", "dashboard.index", "devices.claim", "lab.clock_page", "lab.move_clock",
            "lab_outbox.index", "licenses.verify", "auth.login", "auth.logout", "auth.signup",
            "notifications.index", "notifications.log", "notifications.create_policy", "notifications.new_policy",
            "notifications.save_thresholds", "partner.orders", "partner.place_order", "partner.shared_with_me",
            "quotes.index", "quotes.upload", "renewal_support.index", "renewal_support.invite", "reports.index",
            "sharing.index", "sharing.accept", "subscriptions.overview", "team.index", "team.invite",
            "notifications.rotate_signing_secret",
        )
    },
    **{
        endpoint: "the signed-in user's own account (or the sign-in under way in the session): no id is read"
        for endpoint in (
            "account.security", "account.change_password", "account.two_factor_enrol", "account.two_factor_confirm",
            "account.two_factor_disable", "auth.second_step",
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
