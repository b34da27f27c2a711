"""Sharing a device: the code flow, the limit of five, plan gating, revocation from either side, access."""

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CompanyKind, DeviceShare, ShareStatus
from portal.services.partners import sharing
from tests.conftest import notify_once
from tests.partner.conftest import client_for
from tests.portal.factories import make_device, make_user

ACCEPT_URL = "http://portal.test/sharing"


def _code_from(message) -> str:
    return re.search(
        r"Your confirmation code: ([0-9A-Z]{4}-[0-9A-Z]{4})", message.get_body(("plain",)).get_content()
    ).group(1)


def _shares(device):
    return db.session.scalars(
        select(DeviceShare).where(DeviceShare.device_id == device.id).order_by(DeviceShare.id)
    ).all()


def test_owner_shares_by_email_and_the_recipient_accepts_with_the_emailed_code(app, cast, smtp_server):
    app.config["MAIL_PORT"] = smtp_server.port
    owner = client_for(app, cast.owner)
    response = owner.post(f"/devices/{cast.other.id}/sharing", data={"email": cast.partner.email.upper()})
    assert response.status_code == 303
    row = _shares(cast.other)[-1]
    assert (
        row.status == ShareStatus.PENDING
        and row.email == cast.partner.email
        and row.recipient_company_id is None
    )
    notify_once(app)
    message = smtp_server.wait_for(1)[0]
    assert message["To"] == cast.partner.email and cast.other.serial in message["Subject"]
    code = _code_from(message)
    assert (
        row.confirmation_code_hash != code and len(row.confirmation_code_hash) == 64
    )  # only the hash is kept
    assert "/sharing" in message.get_body(("plain",)).get_content()

    partner = client_for(app, cast.partner)
    assert partner.get(f"/devices/{cast.other.id}").status_code == 404  # not yet
    page = partner.get("/sharing").get_data(as_text=True)
    assert cast.other.serial in page and "Waiting for your code" in page
    response = partner.post("/sharing/accept", data={"code": code.lower().replace("-", " ")})
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.status == ShareStatus.ACTIVE and row.recipient_company_id == cast.partner.company_id
    assert row.recipient_user_id == cast.partner.id
    assert partner.get(f"/devices/{cast.other.id}").status_code == 200
    assert cast.other.serial in partner.get("/partner/shared").get_data(as_text=True)


def test_a_wrong_code_or_another_users_code_is_refused_with_422_and_nothing_changes(app, cast):
    sent = sharing.share_device(
        cast.owner, cast.other, "someone@else.example", today=_today(app), now=_now(app), accept_url=ACCEPT_URL
    )
    db.session.commit()
    partner = client_for(app, cast.partner)
    response = partner.post("/sharing/accept", data={"code": sent.code})
    assert response.status_code == 422
    assert "No device is waiting to be shared with" in response.get_data(as_text=True)
    mine = sharing.share_device(
        cast.owner, cast.other, cast.partner.email, today=_today(app), now=_now(app), accept_url=ACCEPT_URL
    )
    db.session.commit()
    response = partner.post(
        "/sharing/accept", data={"code": "ABCD-EFGH" if mine.code != "ABCDEFGH" else "HGFE-DCBA"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "does not match" in page and 'value="ABCD-EFGH"' in page
    assert partner.post("/sharing/accept", data={"code": ""}).status_code == 422
    assert {s.status for s in _shares(cast.other)} == {ShareStatus.PENDING}


def test_at_most_five_live_shares_per_device_and_revoked_ones_do_not_count(app, cast):
    owner = client_for(app, cast.owner)
    for n in range(5):
        assert (
            owner.post(
                f"/devices/{cast.other.id}/sharing", data={"email": f"p{n}@partners.example"}
            ).status_code
            == 303
        )
    response = owner.post(f"/devices/{cast.other.id}/sharing", data={"email": "sixth@partners.example"})
    page = response.get_data(as_text=True)
    assert (
        response.status_code == 422 and "at most 5 users" in page and 'value="sixth@partners.example"' in page
    )
    assert len(_shares(cast.other)) == 5
    first = _shares(cast.other)[0]
    assert owner.post(f"/devices/{cast.other.id}/sharing/revoke", data={"share": first.id}).status_code == 303
    assert (
        owner.post(f"/devices/{cast.other.id}/sharing", data={"email": "sixth@partners.example"}).status_code
        == 303
    )
    assert sum(s.status != ShareStatus.REVOKED for s in _shares(cast.other)) == 5


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Please enter email address"),
        ("not-an-address", "You have entered an invalid email address."),
        ("USER@SAME.example", "already shared with this address"),
    ],
)
def test_share_form_errors_are_422_in_place_and_keep_what_was_typed(app, cast, email, message):
    sharing.share_device(
        cast.owner, cast.other, "user@same.example", today=_today(app), now=_now(app), accept_url=ACCEPT_URL
    )
    db.session.commit()
    before = len(_shares(cast.other))
    response = client_for(app, cast.owner).post(f"/devices/{cast.other.id}/sharing", data={"email": email})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert f'value="{email}"' in page if email else True
    assert len(_shares(cast.other)) == before


def test_sharing_with_a_coworker_of_the_owner_is_refused(app, cast):
    coworker_email = cast.owner.email
    response = client_for(app, cast.owner).post(
        f"/devices/{cast.other.id}/sharing", data={"email": coworker_email}
    )
    assert response.status_code == 422 and "your own company" in response.get_data(as_text=True)


def test_a_device_on_basic_cannot_be_shared_anew_but_its_existing_shares_stay(app, cast):
    basic = make_device(cast.owner)  # no trial: Basic
    response = client_for(app, cast.owner).post(
        f"/devices/{basic.id}/sharing", data={"email": "p@partners.example"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "needs the Standard plan" in page
    assert _shares(basic) == []
    # The shared device's trial ends: the share made while on Standard stays active.
    from portal.services.clock import clock

    clock().advance(__import__("datetime").timedelta(days=400))
    db.session.commit()
    partner = client_for(app, cast.partner)
    assert partner.get(f"/devices/{cast.device.id}").status_code == 200
    response = client_for(app, cast.owner).post(
        f"/devices/{cast.device.id}/sharing", data={"email": "new@partners.example"}
    )
    assert response.status_code == 422


def test_owner_revokes_and_the_partner_loses_access(app, cast):
    row = _shares(cast.device)[0]
    partner = client_for(app, cast.partner)
    assert partner.get(f"/devices/{cast.device.id}").status_code == 200
    owner = client_for(app, cast.owner)
    response = owner.post(
        f"/devices/{cast.device.id}/sharing/revoke", data={"share": row.id}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="shares"' in fragment and "Not shared with anyone" in fragment
    db.session.refresh(row)
    assert row.status == ShareStatus.REVOKED and row.ended_at is not None
    assert partner.get(f"/devices/{cast.device.id}").status_code == 404
    assert cast.device.serial not in partner.get("/partner/shared").get_data(as_text=True)
    assert (
        owner.post(f"/devices/{cast.device.id}/sharing/revoke", data={"share": row.id}).status_code == 303
    )  # already ended: a message


def test_recipient_revokes_and_declines(app, cast):
    row = _shares(cast.device)[0]
    partner = client_for(app, cast.partner)
    assert partner.post("/sharing/revoke", data={"share": row.id}).status_code == 303
    db.session.refresh(row)
    assert row.status == ShareStatus.REVOKED and row.ended_at is not None
    assert partner.get(f"/devices/{cast.device.id}").status_code == 404
    pending = sharing.share_device(
        cast.owner, cast.other, cast.partner.email, today=_today(app), now=_now(app), accept_url=ACCEPT_URL
    ).share
    db.session.commit()
    assert partner.post("/sharing/revoke", data={"share": pending.id}).status_code == 303
    db.session.refresh(pending)
    assert pending.status == ShareStatus.REVOKED


def test_strangers_and_recipients_get_404_for_what_is_not_theirs(app, cast):
    row = _shares(cast.device)[0]
    stranger = client_for(app, cast.stranger)
    partner = client_for(app, cast.partner)
    for client in (stranger, partner):  # only the owner manages shares
        assert client.get(f"/devices/{cast.device.id}/sharing").status_code == 404
        assert (
            client.post(f"/devices/{cast.device.id}/sharing", data={"email": "x@y.example"}).status_code
            == 404
        )
        assert (
            client.post(f"/devices/{cast.device.id}/sharing/revoke", data={"share": row.id}).status_code
            == 404
        )
    assert stranger.get(f"/devices/{cast.foreign.id}/sharing").status_code == 404
    assert stranger.get("/devices/999999/sharing").status_code == 404
    assert stranger.post("/sharing/revoke", data={"share": row.id}).status_code == 404
    assert stranger.post("/sharing/revoke", data={"share": 999999}).status_code == 404
    owner = client_for(app, cast.owner)
    assert owner.get(f"/devices/{cast.foreign.id}/sharing").status_code == 404
    other_row = sharing.share_device(
        db.session.get(type(cast.owner), cast.foreign.owner.users[0].id),
        cast.foreign,
        "x@y.example",
        today=_today(app),
        now=_now(app),
        accept_url=ACCEPT_URL,
    ).share
    db.session.commit()
    assert (
        owner.post(f"/devices/{cast.other.id}/sharing/revoke", data={"share": other_row.id}).status_code
        == 404
    )  # share of another device
    db.session.refresh(row)
    assert row.status == ShareStatus.ACTIVE
    assert (
        db.session.scalar(
            select(func.count()).select_from(DeviceShare).where(DeviceShare.status == ShareStatus.REVOKED)
        )
        == 0
    )


def test_signed_out_visitors_are_sent_to_sign_in(app, cast):
    visitor = client_for(app, None)
    for url in (f"/devices/{cast.device.id}/sharing", "/sharing"):
        response = visitor.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    for url in (
        f"/devices/{cast.device.id}/sharing",
        "/sharing/accept",
        "/sharing/revoke",
        f"/devices/{cast.device.id}/sharing/revoke",
    ):
        assert visitor.post(url, data={"email": "a@b.example", "code": "x", "share": 1}).status_code == 302
    assert len(_shares(cast.device)) == 1


def test_the_owner_sees_its_shares_and_a_partner_company_sees_its_inbox(app, cast):
    page = client_for(app, cast.owner).get(f"/devices/{cast.device.id}/sharing").get_data(as_text=True)
    assert cast.partner.email in page and "1 of 5 shares used" in page and "Active" in page
    coworker = make_user(CompanyKind.PARTNER)
    page = client_for(app, cast.partner).get("/sharing").get_data(as_text=True)
    assert cast.device.serial in page and "Stop sharing" in page
    assert cast.device.serial not in client_for(app, coworker).get("/sharing").get_data(as_text=True)


def test_share_code_guessing_is_rate_limited(app, cast):
    sharing.share_device(
        cast.owner, cast.other, cast.partner.email, today=_today(app), now=_now(app), accept_url=ACCEPT_URL
    )
    db.session.commit()
    partner = client_for(app, cast.partner)
    statuses = [
        partner.post("/sharing/accept", data={"code": f"AAAA-AA{n:02d}"}).status_code for n in range(22)
    ]
    assert statuses[:20] == [422] * 20 and statuses[20:] == [429, 429]


def _today(app):
    from portal.services.clock import clock

    return clock().today()


def _now(app):
    from portal.services.clock import clock

    return clock().now()
