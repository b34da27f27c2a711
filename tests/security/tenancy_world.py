"""The adversary's world for the tenancy tests: one object of every kind and six parties around it.

Built through the real services, so every row is what a user would have made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import g

from portal.extensions import db
from portal.models import CompanyKind, Device, MaintenanceWindow, User
from portal.services.accounts.access import MAX_ID
from portal.services.alerts import policies
from portal.services.api import tokens as api_tokens
from portal.services.clock import clock
from portal.services.fleet import bulk_actions, nut_bridges, schedules
from portal.services.fleet.occurrences import Cadence
from portal.services.licensing import entitlements
from portal.services.outbox.queue import enqueue
from portal.services.outbox.transports import LAB_COMPANY_HEADER
from portal.services.partners import license_orders, ownership_transfer, quotes, renewal_support
from tests.portal.factories import login, make_device, make_user, share

PARTIES = ("owner", "coworker", "customer", "partner", "stranger_partner", "signed_out")
HUGE_IDS = ("0", "-1", str(MAX_ID + 1), "99999999999999999999", "１２", "²")


@dataclass
class World:
    users: dict[str, User]
    device: Device
    share_id: int
    code: str
    entitlement_id: int
    quote_id: str
    policy_id: int
    delivery_id: int
    window_id: int
    support_id: int
    mail_name: str
    customer_id: int
    extra: dict = field(default_factory=dict)


def _coworker(of: User) -> User:
    """A second user of the same company (what accepting a co-worker invitation makes)."""
    user = User(
        company_id=of.company_id, email=f"coworker.{of.email}", name="Co Worker", password_hash=of.password_hash,
        is_admin=False, created_at=datetime(2026, 1, 1),
    )
    db.session.add(user)
    db.session.commit()
    return user


def build_world(app) -> World:
    now, today = clock().now(), clock().today()
    owner = make_user(company="Harbour Data Centre")
    users = {
        "owner": owner,
        "coworker": _coworker(owner),
        "customer": make_user(company="Elsewhere Ltd"),
        "partner": make_user(CompanyKind.PARTNER, company="Volt Partners"),
        "stranger_partner": make_user(CompanyKind.PARTNER, company="Other Reseller"),
    }
    partner = users["partner"]
    device = make_device(owner)
    entitlements.start_trial(device, today=today - timedelta(days=30), now=now - timedelta(days=30))
    share_row = share(device, partner)

    with app.test_request_context():
        placed = license_orders.order_for_customer(
            partner, sku="SCSTD1Y", quantity="50", po_number="PO-1", installer_email=partner.email,
            customer_name="Harbour Data Centre", today=today, now=now,
            verify_url="http://portal.test/licenses/verify", shared_url="http://portal.test/partner/shared",
        )
    code = placed.code.code
    assigned = entitlements.assign_from_code(partner, code, [device], today=today, now=now)
    quote = quotes.create_quote(
        partner, source="shared", lines=quotes.lines_from_devices(partner, [device.id], today=today),
        customer_name="Harbour", today=today, now=now,
    )
    policy = policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Night shift", description="", event_types=["on_battery"], severities=["critical"],
            email_recipients=owner.email, slack_webhook_url="", teams_webhook_url="", webhook_url="", enabled=True,
        ),
        now=now,
    )
    delivery = enqueue(owner.company_id, "email", owner.email, "Alert", {"text": "On battery"}, event_type="on_battery", now=now)
    window = MaintenanceWindow(
        device_id=device.id, company_id=owner.company_id, starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2), note="", created_by_user_id=owner.id, created_at=now,
    )
    db.session.add(window)
    bridge = nut_bridges.create_bridge(owner, "nas-01", "Rack B", now=now).bridge
    bridged = Device(serial="AS1316113420", model="Smart-UPS 750", first_seen_at=now, bridge_id=bridge.id)
    db.session.add(bridged)
    # A bulk self-test the owner ran (the device is not on line, so it is recorded as not run).
    batch = bulk_actions.run(
        owner, [device], bulk_actions.parse_choice("self_test"), publish=lambda serial, payload: None, today=today, now=now
    )
    schedule = schedules.create_self_test(
        owner, schedules.Target(device_ids=(device.id,)), Cadence("weekly", 3, weekday=0), now=now
    )
    api_token = api_tokens.create_token(owner, "RMM sync", ["read", "commands"], now=now).token
    sent = renewal_support.invite(owner, partner.email, now=now)
    renewal_support.respond(partner, sent.support.id, True, now=now)
    # The owner offers the device to the unrelated customer; only that customer answers it.
    transfer = ownership_transfer.offer_transfer(
        owner, device, users["customer"].email, "", now=now, inbox_url="http://portal.test/transfers"
    )
    db.session.commit()
    mail_name = _lab_mail(app, to=owner.email, company_id=owner.company_id)
    return World(
        users=users, device=device, share_id=share_row.id, code=code, entitlement_id=assigned[0].id,
        quote_id=quote.id, policy_id=policy.id, delivery_id=delivery.id, window_id=window.id,
        support_id=sent.support.id, mail_name=mail_name, customer_id=owner.company_id,
        extra={"bridge_id": bridge.id, "bridged_device_id": bridged.id, "api_token_id": api_token.id, "batch_id": batch.id,
               "transfer_id": transfer.id, "schedule_id": schedule.id},
    )


def _lab_mail(app, *, to: str, company_id: int) -> str:
    """One message in the lab outbox folder, as the lab mail server stores it."""
    from pathlib import Path

    folder = Path(app.config["LAB_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = "20260101T000000Z-0001.eml"
    (folder / name).write_text(
        f"{LAB_COMPANY_HEADER}: {company_id}\nFrom: portal@upsconnect.local\nTo: {to}\n"
        "Subject: Your share code\n\nShare code: 123-456\n"
    )
    return name


def quick_password_hashes(monkeypatch) -> None:
    """A cheap hash for these users: each party signs in once per test, and hashing is not what is tested here."""
    from werkzeug.security import generate_password_hash

    from portal.services.accounts import users

    monkeypatch.setattr(users, "generate_password_hash", lambda p: generate_password_hash(p, "pbkdf2:sha256:1000"))


def forget_cached_user(app) -> None:
    """The tests keep one app context open; flask-login's cached user must not outlive a request."""

    def forget() -> None:
        g.pop("_login_user", None)
        g.pop("csrf_token", None)  # flask-wtf keeps the token in g, which the open app context would share

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


def client_as(app, world: World, party: str):
    client = app.test_client()
    if party != "signed_out":
        response = login(client, world.users[party])
        assert response.status_code in (302, 303), f"{party} could not sign in"
    return client


def snapshot() -> dict[str, list[str]]:
    """Every row of every table: a refused request must leave this exactly as it was."""
    db.session.expire_all()
    return {
        table.name: sorted(repr(tuple(row)) for row in db.session.execute(table.select()))
        for table in db.metadata.sorted_tables
    }
