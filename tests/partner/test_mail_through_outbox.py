"""Share codes, co-worker invitations and activation codes leave through the outbox: queued with the
change that made them, delivered by `flask notify` over real SMTP, kept through an outage, and never
shown in the delivery log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ActivationCode, DeviceShare, Invitation, NotificationDelivery
from portal.services.clock import clock
from portal.services.licensing.activation_codes import format_code
from tests.conftest import notify_once
from tests.partner.conftest import client_for

ORDER = {
    "customer_name": "Harbour Data Centre",
    "sku": "SCSTD1Y",
    "quantity": "3",
    "po_number": "PO-4411",
    "installer_email": "tech@volt.example",
}


def _share(app, cast):
    response = client_for(app, cast.owner).post(
        f"/devices/{cast.other.id}/sharing", data={"email": "p@partners.example"}
    )
    return response, cast.owner.company_id, "p@partners.example"


def _invite(app, cast):
    response = client_for(app, cast.owner).post("/team/invite", data={"email": "bob@harbour.example"})
    return response, cast.owner.company_id, "bob@harbour.example"


def _order(app, cast):
    response = client_for(app, cast.partner).post("/partner/orders", data=ORDER)
    return response, cast.partner.company_id, "tech@volt.example"


ACTIONS = {"share": _share, "invitation": _invite, "activation code": _order}
CHANGED = {"share": DeviceShare, "invitation": Invitation, "activation code": ActivationCode}


def _secret(kind: str, row: NotificationDelivery) -> str:
    """The code or link the queued email carries, which nobody else may read."""
    if kind == "share":
        return re.search(r"Your confirmation code: (\S+)", row.payload["text"]).group(1)
    if kind == "invitation":
        return re.search(r"/join/\S+", row.payload["text"]).group(0)
    return format_code(db.session.scalar(select(ActivationCode)).code)


def _deliveries() -> list[NotificationDelivery]:
    return list(db.session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_the_email_is_queued_with_the_change_and_the_notify_pass_delivers_it(app, cast, smtp_server, kind):
    app.config["MAIL_PORT"] = smtp_server.port
    response, company_id, address = ACTIONS[kind](app, cast)
    assert response.status_code in (302, 303)
    [row] = _deliveries()
    assert (row.company_id, row.channel, row.target, row.status) == (company_id, "email", address, "pending")
    assert row.confidential and db.session.scalar(select(CHANGED[kind]).limit(1)) is not None
    assert smtp_server.messages == []  # the request itself talked to no mail server
    secret = _secret(kind, row)

    assert notify_once(app) == "sent 1, retrying 0, failed 0"
    [message] = smtp_server.wait_for(1)
    assert message["To"] == address and message["Subject"].strip() == row.subject
    assert secret in message.get_body(("plain",)).get_content()
    db.session.refresh(row)
    assert row.status == "sent" and secret not in str(row.payload)  # the body is not kept once delivered


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_a_refused_change_queues_no_email(app, cast, kind):
    if kind == "activation code":
        response = client_for(app, cast.partner).post("/partner/orders", data={**ORDER, "quantity": "0"})
    elif kind == "share":
        response = client_for(app, cast.owner).post(f"/devices/{cast.other.id}/sharing", data={"email": "p@"})
    else:
        response = client_for(app, cast.owner).post("/team/invite", data={"email": "bob@"})
    assert response.status_code == 422
    assert _deliveries() == []


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_an_smtp_outage_leaves_the_email_pending_and_the_next_pass_delivers_it(app, cast, smtp_server, kind):
    # MAIL_PORT stays at the test default, where no server listens: the mail server is down.
    ACTIONS[kind](app, cast)
    assert notify_once(app) == "sent 0, retrying 1, failed 0"
    [row] = _deliveries()
    assert (row.status, row.attempts) == ("pending", 1) and "could not be sent" in row.last_error
    secret = _secret(kind, row)

    app.config["MAIL_PORT"] = smtp_server.port  # the server is back
    assert notify_once(app) == "sent 0, retrying 0, failed 0"  # not due before its backoff
    clock().advance(timedelta(seconds=38))  # the first backoff: 30 s, give or take a quarter
    db.session.commit()
    assert notify_once(app) == "sent 1, retrying 0, failed 0"
    [message] = smtp_server.wait_for(1)
    assert secret in message.get_body(("plain",)).get_content()
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_the_delivery_log_shows_recipient_and_subject_but_never_the_code(app, cast, smtp_server, kind):
    app.config["MAIL_PORT"] = smtp_server.port
    _, company_id, address = ACTIONS[kind](app, cast)
    [row] = _deliveries()
    secret = _secret(kind, row)
    actor = client_for(app, cast.owner if company_id == cast.owner.company_id else cast.partner)
    pending = actor.get("/notifications").get_data(as_text=True)
    notify_once(app)
    sent = actor.get("/notifications").get_data(as_text=True)
    for page in (pending, sent):
        assert address in page and row.subject in page and secret not in page
    assert f'aria-label="Send again to {address}"' not in sent  # a delivered code cannot be re-sent
    response = actor.post("/notifications/deliveries/resend", data={"delivery": row.id}, follow_redirects=True)
    assert "cannot be sent again" in response.get_data(as_text=True)
    assert len(_deliveries()) == 1


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_links_in_share_invitation_and_order_emails_use_the_public_url(app, cast, kind):
    """Not the address the request came to: the configured public one (behind a proxy they differ)."""
    app.config["PUBLIC_URL"] = "https://ups.example.org/portal/"
    ACTIONS[kind](app, cast)
    [row] = _deliveries()
    links = re.findall(r"https?://\S+", row.payload["text"])
    assert links and all(link.startswith("https://ups.example.org/portal/") for link in links), links
    assert not any("//portal.test" in link or "portal//" in link for link in links)
