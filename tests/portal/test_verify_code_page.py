"""Verify Activation Code: what a code carries, clear errors, and guessing limited."""

from datetime import date, datetime

from portal.extensions import db
from portal.models import CompanyKind, OrderChannel
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import format_code, generate_code
from tests.portal.factories import login, make_user


def _code(user, quantity=3):
    code = entitlements.place_order(
        ordered_by=user, channel=OrderChannel.PARTNER, sku="SCSTD1Y", quantity=quantity, installer_email="inst@p.example",
        po_number="PO-77", today=date(2026, 1, 10), now=datetime(2026, 1, 10),
    )
    db.session.commit()
    return code


def test_verify_shows_what_the_code_carries(client):
    partner = make_user(CompanyKind.PARTNER)
    code = _code(partner)
    login(client, partner)
    page = client.post("/licenses/verify", data={"code": format_code(code.code).lower()}).get_data(as_text=True)
    assert "Standard plan, 1 year (SCSTD1Y)" in page
    assert '<dd id="code-remaining">3</dd>' in page and "PO-77" in page and "inst@p.example" in page


def test_verify_errors_are_shown_in_place_with_422(client):
    login(client, make_user())
    response = client.post("/licenses/verify", data={"code": generate_code()})
    assert response.status_code == 422
    assert "No activation code matches" in response.get_data(as_text=True)


def test_verify_needs_sign_in(client):
    assert client.get("/licenses/verify").status_code == 302


def test_code_guessing_is_rate_limited_per_user(client):
    login(client, make_user())
    statuses = [client.post("/licenses/verify", data={"code": generate_code()}).status_code for _ in range(22)]
    assert statuses[:20] == [422] * 20
    assert statuses[20:] == [429, 429]
