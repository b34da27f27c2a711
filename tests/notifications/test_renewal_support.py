"""Renewal Support: invite by email, accept or decline, 7-day expiry, ended by either side, lifecycle notices."""

from __future__ import annotations

import re
from datetime import timedelta

from portal.extensions import db
from portal.models import CompanyKind, RenewalSupport
from portal.services.calendar_dates import add_months
from portal.services.clock import clock
from tests.notifications.conftest import deliveries
from tests.portal.factories import login, make_user


def run(app, *args) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def invite(client, owner, email="sales@reseller.example"):
    login(client, owner)
    return client.post("/renewal-support/invite", data={"email": email})


def test_the_invite_email_shows_only_the_company_name_and_the_reseller_accepts(
    mail_app, smtp_server, client, owner, device
):
    reseller = make_user(CompanyKind.PARTNER, email="sales@reseller.example", company="Volt Partners")
    assert invite(client, owner).status_code == 303
    run(mail_app, "notify", "--once")
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "sales@reseller.example"
    assert message["Subject"] == "Acme Water invites you to Renewal Support on upsconnect"
    text = message.get_content()
    assert device.serial not in text and "Pump room" not in text and "owner@customer.example" not in text
    path = re.search(r"http://portal\.test(/renewal-support/invite/\S+)", text).group(1)

    client.post("/logout")
    login(client, reseller)
    page = client.get(path).get_data(as_text=True)
    assert "Acme Water" in page and device.serial not in page
    support = db.session.query(RenewalSupport).one()
    assert client.post("/renewal-support/accept", data={"support": support.id}).status_code == 303
    db.session.refresh(support)
    assert (support.status, support.reseller_company_id) == ("accepted", reseller.company_id)

    client.post("/logout")
    login(client, owner)
    page = client.get("/renewal-support").get_data(as_text=True)
    assert "Volt Partners accepted" in page


def test_the_customer_sees_a_decline(client, owner):
    reseller = make_user(CompanyKind.PARTNER, email="sales@reseller.example", company="Volt Partners")
    invite(client, owner)
    support = db.session.query(RenewalSupport).one()
    client.post("/logout")
    login(client, reseller)
    assert "Acme Water" in client.get("/renewal-support").get_data(as_text=True)
    client.post("/renewal-support/decline", data={"support": support.id})
    client.post("/logout")
    login(client, owner)
    page = client.get("/renewal-support").get_data(as_text=True)
    assert "Volt Partners declined the invite." in page


def test_an_invite_expires_after_7_days(client, owner):
    reseller = make_user(CompanyKind.PARTNER, email="sales@reseller.example")
    invite(client, owner)
    support = db.session.query(RenewalSupport).one()
    clock().advance(timedelta(days=7, minutes=1))
    db.session.commit()
    client.post("/logout")
    login(client, reseller)
    client.post("/renewal-support/accept", data={"support": support.id})
    db.session.refresh(support)
    assert support.status == "expired"
    client.post("/logout")
    login(client, owner)
    assert "expired unanswered after 7 days" in client.get("/renewal-support").get_data(as_text=True)


def test_either_side_can_end_it(client, owner):
    reseller = make_user(CompanyKind.PARTNER, email="sales@reseller.example")
    for ender in ("customer", "reseller"):
        client.post("/logout")
        invite(client, owner)
        support = db.session.query(RenewalSupport).order_by(RenewalSupport.id.desc()).first()
        client.post("/logout")
        login(client, reseller)
        client.post("/renewal-support/accept", data={"support": support.id})
        if ender == "customer":
            client.post("/logout")
            login(client, owner)
            client.post("/renewal-support/end", data={"support": support.id})
        else:
            client.post("/renewal-support/leave", data={"support": support.id})
        db.session.refresh(support)
        assert (support.status, support.ended_by) == ("ended", ender)


def test_strangers_cannot_see_answer_or_end_an_invite(client, owner):
    invite(client, owner)
    support = db.session.query(RenewalSupport).one()
    stranger = make_user(CompanyKind.PARTNER, email="eve@other.example")
    client.post("/logout")
    login(client, stranger)
    assert "Acme Water" not in client.get("/renewal-support").get_data(as_text=True)
    for action in ("accept", "decline", "end", "leave"):
        assert client.post(f"/renewal-support/{action}", data={"support": support.id}).status_code == 404
    db.session.refresh(support)
    assert support.status == "pending"


def test_a_second_invite_while_one_stands_is_refused(client, owner):
    invite(client, owner)
    response = client.post("/renewal-support/invite", data={"email": "other@reseller.example"})
    assert response.status_code == 422
    assert "already has a reseller invited" in response.get_data(as_text=True)


def test_the_reseller_gets_lifecycle_notices_3_months_ahead_once(
    mail_app, smtp_server, client, owner, device
):
    reseller = make_user(CompanyKind.PARTNER, email="sales@reseller.example", company="Volt Partners")
    today = clock().today()
    device.warranty_ends_on = today + timedelta(days=60)
    device.battery_installed_on = None
    db.session.commit()
    invite(client, owner)
    support = db.session.query(RenewalSupport).one()
    client.post("/logout")
    login(client, reseller)
    client.post("/renewal-support/accept", data={"support": support.id})

    run(mail_app, "renewals")
    run(mail_app, "renewals")
    reseller_mail = [
        d
        for d in deliveries(channel="email")
        if d.target == "sales@reseller.example" and d.event_type == "renewal_due"
    ]
    assert len(reseller_mail) == 1  # the invite email aside: one digest, however often the job runs
    text = reseller_mail[0].payload["text"]
    assert "Acme Water" in text and device.serial in text
    assert f"Warranty expiry: {device.warranty_ends_on:%d %b %Y}" in text
    assert "Plan expiry" not in text  # the trial ends in 6 months: not within 3 months yet

    clock().advance(timedelta(days=120))
    db.session.commit()
    run(mail_app, "renewals")
    reseller_mail = [
        d
        for d in deliveries(channel="email")
        if d.target == "sales@reseller.example" and d.event_type == "renewal_due"
    ]
    assert len(reseller_mail) == 2
    later = reseller_mail[1].payload["text"]
    assert (
        f"Plan expiry: {add_months(device.trial_started_on, 6):%d %b %Y}" in later
        and "Warranty expiry" not in later
    )

    client.post("/renewal-support/leave", data={"support": support.id})
    clock().advance(timedelta(days=60))
    db.session.commit()
    run(mail_app, "renewals")
    assert (
        len(
            [
                d
                for d in deliveries(channel="email")
                if d.target == "sales@reseller.example" and d.event_type == "renewal_due"
            ]
        )
        == 2
    )
