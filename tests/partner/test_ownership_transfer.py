"""Ownership transfer through HTTP with CSRF on: offer, accept (licenses, timeline and history move, shares end,
no new trial, a record on both sides), decline, cancel, expiry, strangers, double submits and bad addresses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    CompanyKind,
    Device,
    DeviceCommand,
    DeviceEvent,
    DeviceShare,
    Entitlement,
    MaintenanceWindow,
    OwnershipTransfer,
    ShareStatus,
    SubscriptionSegment,
    TransferStatus,
    User,
)
from portal.services.api import tokens
from portal.services.clock import clock
from portal.services.licensing import entitlements
from portal.services.partners import license_orders
from tests.conftest import notify_once
from tests.portal.factories import make_user
from tests.security.tenancy_world import snapshot

TOKEN = re.compile(r'name="csrf_token"[^>]* value="([^"]+)"')


@pytest.fixture
def csrf_on(app):
    """CSRF as in production: every POST carries the token of the page it came from."""

    def forget_token() -> None:
        g.pop("csrf_token", None)  # the tests keep one app context open; flask-wtf keeps the token in g

    app.before_request_funcs.setdefault(None, []).insert(0, forget_token)
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def signed_in(app, user: User):
    """A client signed in through the login form (with its CSRF token)."""
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    assert response.status_code in (302, 303)
    return client


def post(client, page: str, url: str, data: dict):
    """Open the page, take its CSRF token, post the form the way a browser would."""
    token = TOKEN.search(client.get(page).get_data(as_text=True)).group(1)
    return client.post(url, data={**data, "csrf_token": token})


def timeline(device: Device) -> list[tuple]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(SubscriptionSegment).where(SubscriptionSegment.device_id == device.id).order_by(SubscriptionSegment.start)
    )
    return [(row.plan, row.start, row.end, row.entitlement_id) for row in rows]


def transfers_of(device: Device) -> list[OwnershipTransfer]:
    db.session.expire_all()
    return list(db.session.scalars(select(OwnershipTransfer).where(OwnershipTransfer.device_id == device.id)))


@pytest.fixture
def receiver(app) -> User:
    return make_user(company="Site Services Ltd")


@pytest.fixture
def licensed(cast):
    """The shared device mid-trial with a 1-year Standard license queued behind it, a window and an open command."""
    now, today = clock().now(), clock().today()
    partner = cast.partner
    placed = license_orders.order_for_customer(
        partner, sku="SCSTD1Y", quantity="2", po_number="PO-9", installer_email=partner.email,
        customer_name="Harbour Data Centre", today=today, now=now,
        verify_url="http://portal.test/licenses/verify", shared_url="http://portal.test/partner/shared",
    )
    entitlements.assign_from_code(partner, placed.code.code, [cast.device], today=today, now=now)
    db.session.add_all([
        MaintenanceWindow(device_id=cast.device.id, company_id=cast.owner.company_id, starts_at=now + timedelta(days=1),
                          ends_at=now + timedelta(days=2), note="", created_by_user_id=cast.owner.id, created_at=now),
        DeviceCommand(id="6f1c2a4e-0000-4000-8000-00000000aa01", device_id=cast.device.id, type="test.battery.start",
                      args={}, issued_by_user_id=cast.owner.id, issued_at=now, status="sent", progress_percent=0,
                      message="Sent to the device.", updated_at=now),
        DeviceEvent(device_id=cast.device.id, seq=7, ts=now - timedelta(hours=2), code="0x0104", severity="warning",
                    text="UPS: On battery power in response to an input power problem."),
    ])
    cast.device.name, cast.device.site = "Rack 4 UPS", "Harbour DC"
    db.session.commit()
    return cast


def offer(app, cast, receiver, *, note: str = "Site handover, Dock 3"):
    owner = signed_in(app, cast.owner)
    response = post(owner, f"/devices/{cast.device.id}/transfer", f"/devices/{cast.device.id}/transfer",
                    {"email": receiver.email.upper(), "note": note})
    assert response.status_code == 303, response.get_data(as_text=True)
    (transfer,) = [t for t in transfers_of(cast.device) if t.status == TransferStatus.PENDING]
    return owner, transfer


def test_offer_then_accept_moves_the_device_with_its_licenses_and_history(app, licensed, receiver, csrf_on, smtp_server):
    cast = licensed
    app.config["MAIL_PORT"] = smtp_server.port
    device = cast.device
    before_timeline = timeline(device)
    assert len(before_timeline) >= 2  # the trial under way and the queued license
    trial_day = device.trial_started_on
    entitlement_ids = sorted(db.session.scalars(select(Entitlement.id).where(Entitlement.device_id == device.id)))
    secret = tokens.create_token(cast.owner, "RMM", ["read"], now=clock().now()).secret
    db.session.commit()
    api = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get(f"/api/v1/devices/{device.id}", headers=api).status_code == 200

    owner_page = signed_in(app, cast.owner).get(f"/devices/{device.id}").get_data(as_text=True)
    assert "Transfer ownership" in owner_page
    owner, transfer = offer(app, cast, receiver)
    assert transfer.to_company_id == receiver.company_id and transfer.to_email == receiver.email
    assert transfer.expires_at == transfer.created_at + timedelta(days=14)
    assert "Waiting for their answer" in owner.get(f"/devices/{device.id}/transfer").get_data(as_text=True)

    notify_once(app)
    (mail,) = [m for m in smtp_server.wait_for(2) if m["To"] == receiver.email]  # and the licenses' Installer Email
    body = mail.get_body(("plain",)).get_content()
    assert mail["To"] == receiver.email and device.serial in mail["Subject"]
    assert "Site handover, Dock 3" in body and "http://portal.test/transfers" in body

    incoming = signed_in(app, receiver)
    page = incoming.get("/transfers").get_data(as_text=True)
    assert device.serial in page and "Harbour Data Centre" in page and "Accept" in page
    assert incoming.get(f"/devices/{device.id}").status_code == 404  # not yet

    response = post(incoming, "/transfers", "/transfers/accept", {"transfer": transfer.id})
    assert response.status_code == 303 and response.location.endswith(f"/devices/{device.id}")
    db.session.expire_all()
    device = db.session.get(Device, device.id)
    assert device.owner_company_id == receiver.company_id
    # Licenses and timeline move with the serial: same segments, same end dates, same entitlements, no new trial.
    assert timeline(device) == before_timeline
    assert device.trial_started_on == trial_day
    assert sorted(db.session.scalars(select(Entitlement.id).where(Entitlement.device_id == device.id))) == entitlement_ids
    # The old owner's words go; the unit's history stays.
    assert (device.name, device.site) == ("", "")
    assert db.session.scalar(select(DeviceEvent.id).where(DeviceEvent.device_id == device.id)) is not None
    # Shares end, the open command is closed, the old owner's coming maintenance window is gone.
    shares = db.session.scalars(select(DeviceShare).where(DeviceShare.device_id == device.id)).all()
    assert shares and all(s.status == ShareStatus.REVOKED and s.ended_at is not None for s in shares)
    assert db.session.get(DeviceCommand, "6f1c2a4e-0000-4000-8000-00000000aa01").status == "failed"
    assert db.session.scalar(select(MaintenanceWindow.id).where(MaintenanceWindow.device_id == device.id)) is None

    # The new owner sees the device and its history; the old owner and the partner lose it everywhere.
    new_page = incoming.get(f"/devices/{device.id}").get_data(as_text=True)
    assert device.serial in new_page and "On battery power" in incoming.get(f"/devices/{device.id}/events").get_data(as_text=True)
    assert owner.get(f"/devices/{device.id}").status_code == 404
    assert owner.get(f"/devices/{device.id}/transfer").status_code == 404
    assert app.test_client().get(f"/api/v1/devices/{device.id}", headers=api).status_code == 404
    assert device.serial not in app.test_client().get("/api/v1/devices", headers=api).get_data(as_text=True)
    assert device.serial not in owner.get("/reports/inventory.csv").get_data(as_text=True)
    assert signed_in(app, cast.partner).get(f"/devices/{device.id}").status_code == 404

    # Both sides keep the record: who, when, from and to.
    for client in (owner, incoming):
        record = client.get("/transfers").get_data(as_text=True)
        history = record.split('id="transfer-history"')[1]
        assert device.serial in history and "Accepted" in history
        assert "Harbour Data Centre" in history and "Site Services Ltd" in history and receiver.name in history

    # The sender is told.
    notify_once(app)
    told = smtp_server.wait_for(3)[2]
    assert told["To"] == cast.owner.email and "accepted" in told["Subject"]

    # A second submit of the same form (double click, reload) changes nothing and says so plainly.
    before = snapshot()
    again = post(incoming, "/transfers", "/transfers/accept", {"transfer": transfer.id})
    assert again.status_code == 303
    assert "already your company" in incoming.get("/transfers").get_data(as_text=True)
    assert snapshot() == before


def test_the_sender_can_cancel_and_the_receiver_can_decline_and_neither_changes_the_device(app, licensed, receiver, csrf_on):
    cast = licensed
    before_timeline = timeline(cast.device)
    owner, first = offer(app, cast, receiver)
    response = post(owner, "/transfers", "/transfers/cancel", {"transfer": first.id})
    assert response.status_code == 303
    incoming = signed_in(app, receiver)
    assert cast.device.serial not in incoming.get("/transfers").get_data(as_text=True).split('id="transfer-history"')[0]
    refused = post(incoming, "/transfers", "/transfers/accept", {"transfer": first.id})
    assert refused.status_code == 303
    assert "cancelled this offer" in incoming.get("/transfers").get_data(as_text=True)

    _, second = offer(app, cast, receiver)
    assert post(incoming, "/transfers", "/transfers/decline", {"transfer": second.id}).status_code == 303
    assert "declined" in incoming.get("/transfers").get_data(as_text=True)
    assert post(incoming, "/transfers", "/transfers/accept", {"transfer": second.id}).status_code == 303

    db.session.expire_all()
    device = db.session.get(Device, cast.device.id)
    assert device.owner_company_id == cast.owner.company_id and device.name == "Rack 4 UPS"
    assert timeline(device) == before_timeline
    assert db.session.scalar(select(DeviceShare.status).where(DeviceShare.device_id == device.id)) == ShareStatus.ACTIVE
    assert [t.status for t in transfers_of(device)] == [TransferStatus.CANCELLED, TransferStatus.DECLINED]
    assert signed_in(app, cast.partner).get(f"/devices/{device.id}").status_code == 200


def test_an_offer_expires_after_14_days_on_the_lab_clock(app, licensed, receiver, csrf_on):
    cast = licensed
    owner, transfer = offer(app, cast, receiver)
    incoming = signed_in(app, receiver)
    assert post(owner, "/lab/clock", "/lab/clock", {"days": "15"}).status_code == 303
    page = incoming.get("/transfers").get_data(as_text=True)
    assert "No device is waiting to be transferred to you" in page and "Expired" in page
    before = snapshot()
    assert post(incoming, "/transfers", "/transfers/accept", {"transfer": transfer.id}).status_code == 303
    assert "expired on" in incoming.get("/transfers").get_data(as_text=True)
    assert snapshot() == before
    # The owner may offer it again; the lapsed offer is stored as expired.
    _, again = offer(app, cast, receiver)
    assert [t.status for t in transfers_of(cast.device)] == [TransferStatus.EXPIRED, TransferStatus.PENDING]


def test_a_third_company_and_a_co_worker_who_is_no_administrator_get_nowhere(app, licensed, receiver, csrf_on):
    cast = licensed
    owner, transfer = offer(app, cast, receiver)
    for stranger in (cast.stranger, cast.partner, make_user(company="Elsewhere Again")):
        client = signed_in(app, stranger)
        assert cast.device.serial not in client.get("/transfers").get_data(as_text=True)
        before = snapshot()
        for action in ("accept", "decline", "cancel"):
            assert post(client, "/transfers", f"/transfers/{action}", {"transfer": transfer.id}).status_code == 404
        assert snapshot() == before
    # A co-worker of the receiver who is neither the addressee nor an administrator does not answer for the company.
    colleague = User(company_id=receiver.company_id, email="desk@site-services.example", name="Desk",
                     password_hash=receiver.password_hash, is_admin=False, created_at=receiver.created_at)
    owner_colleague = User(company_id=cast.owner.company_id, email="ops@harbour.example", name="Ops",
                           password_hash=cast.owner.password_hash, is_admin=False, created_at=receiver.created_at)
    db.session.add_all([colleague, owner_colleague])
    db.session.commit()
    client = signed_in(app, colleague)
    assert post(client, "/transfers", "/transfers/accept", {"transfer": transfer.id}).status_code == 404
    # The owner's co-worker who is no administrator sees the device but may not transfer or cancel.
    client = signed_in(app, owner_colleague)
    assert "Transfer ownership" not in client.get(f"/devices/{cast.device.id}").get_data(as_text=True)
    assert client.get(f"/devices/{cast.device.id}/transfer").status_code == 403
    assert post(client, "/transfers", "/transfers/cancel", {"transfer": transfer.id}).status_code == 403
    assert transfers_of(cast.device)[0].status == TransferStatus.PENDING
    # An id that names nothing is a 404 too.
    assert post(signed_in(app, receiver), "/transfers", "/transfers/accept", {"transfer": "99999"}).status_code == 404


@pytest.mark.parametrize(
    ("email", "words"),
    [
        ("", "Enter"),
        ("not-an-address", "valid"),
        ("nobody@unknown.example", "No upsconnect account uses nobody@unknown.example"),
        ("OWN", "belongs to your own company"),
    ],
)
def test_a_bad_address_gets_a_clear_message_and_nothing_changes(app, licensed, csrf_on, email, words):
    cast = licensed
    if email == "OWN":
        email = cast.owner.email
    owner = signed_in(app, cast.owner)
    before = snapshot()
    url = f"/devices/{cast.device.id}/transfer"
    response = post(owner, url, url, {"email": email, "note": ""})
    assert response.status_code == 422
    assert words.lower() in response.get_data(as_text=True).lower()
    assert snapshot() == before


def test_one_offer_at_a_time_and_a_long_note_is_refused(app, licensed, receiver, csrf_on):
    cast = licensed
    owner, _ = offer(app, cast, receiver)
    other = make_user(CompanyKind.PARTNER, company="Another Integrator")
    url = f"/devices/{cast.device.id}/transfer"
    before = snapshot()
    token = TOKEN.search(owner.get("/transfers").get_data(as_text=True)).group(1)
    response = owner.post(url, data={"email": other.email, "note": "", "csrf_token": token})
    assert response.status_code == 422 and "Cancel that offer first" in response.get_data(as_text=True)
    response = owner.post(url, data={"email": other.email, "note": "x" * 501, "csrf_token": token})
    assert response.status_code == 422
    assert snapshot() == before


def test_a_post_without_the_csrf_token_is_refused(app, licensed, receiver, csrf_on):
    cast = licensed
    _, transfer = offer(app, cast, receiver)
    incoming = signed_in(app, receiver)
    before = snapshot()
    assert incoming.post("/transfers/accept", data={"transfer": transfer.id}).status_code == 400
    assert snapshot() == before


def test_an_accept_racing_another_moves_the_device_once(app, licensed, receiver, csrf_on):
    """Two tabs: the other request commits its accept between this one's read and its write."""
    from portal.services.partners import ownership_transfer

    cast = licensed
    _, transfer = offer(app, cast, receiver)
    stale = db.session.get(OwnershipTransfer, transfer.id)  # read by this request, still pending
    assert stale.status == TransferStatus.PENDING
    with db.engine.begin() as other:  # the other request's transaction
        other.execute(
            OwnershipTransfer.__table__.update().where(OwnershipTransfer.id == transfer.id)
            .values(status=TransferStatus.ACCEPTED, decided_by_user_id=receiver.id, decided_at=clock().now())
        )
        other.execute(
            Device.__table__.update().where(Device.id == cast.device.id).values(owner_company_id=receiver.company_id)
        )
    answer = ownership_transfer.accept(receiver, transfer.id, now=clock().now(), sender_url="http://portal.test/transfers")
    db.session.commit()
    assert answer.changed is False
    db.session.expire_all()
    assert db.session.get(Device, cast.device.id).name == "Rack 4 UPS"  # this request's clean-up never ran
    assert db.session.get(DeviceCommand, "6f1c2a4e-0000-4000-8000-00000000aa01").status == "sent"
