"""Ordering licenses for a customer: the activation code travels by real SMTP to the Installer Email."""

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ActivationCode, LicenseOrder
from portal.services.licensing.activation_codes import format_code
from portal.services.licensing.products import sellable_product_for_sku
from portal.services.licensing.promotions import order_free_quantity
from tests.conftest import notify_once
from tests.partner.conftest import client_for, today

ORDER = {
    "customer_name": "Harbour Data Centre",
    "sku": "SCSTD1Y",
    "quantity": "3",
    "po_number": "PO-4411",
    "installer_email": "tech@volt.example",
}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_order_emails_the_activation_code_to_the_installer(app, cast, smtp_server):
    app.config["MAIL_PORT"] = smtp_server.port
    partner = client_for(app, cast.partner)
    form = partner.get("/partner/orders").get_data(as_text=True)
    assert f'value="{cast.partner.email}"' in form  # Installer Email defaults to the partner's own address
    response = partner.post("/partner/orders", data=ORDER)
    assert response.status_code == 303
    code = db.session.scalar(select(ActivationCode))
    assert (code.sku, code.quantity, code.remaining, code.order.po_number) == ("SCSTD1Y", 3, 3, "PO-4411")
    assert (
        code.order.installer_email == "tech@volt.example"
        and code.order.customer_name == "Harbour Data Centre"
    )
    notify_once(app)
    message = smtp_server.wait_for(1)[0]
    body = message.get_body(("plain",)).get_content()
    assert message["To"] == "tech@volt.example"
    assert message["Subject"] == "Activation code for 3 x SCSTD1Y (PO PO-4411)"
    assert format_code(code.code) in body and "PO-4411" in body and "SCSTD1Y" in body and "3 licenses" in body
    assert "/licenses/verify" in body and "use the same code later" in body.replace("\n", " ")
    page = partner.get("/partner/orders").get_data(as_text=True)
    assert "PO-4411" in page and code.code[-5:] in page and format_code(code.code) not in page


def test_promotion_free_licenses_are_named_in_the_email(app, cast, smtp_server):
    app.config["MAIL_PORT"] = smtp_server.port
    free = order_free_quantity(sellable_product_for_sku("SCADV1Y"), 11, today())
    client_for(app, cast.partner).post("/partner/orders", data={**ORDER, "sku": "SCADV1Y", "quantity": "11"})
    notify_once(app)
    body = smtp_server.wait_for(1)[0].get_body(("plain",)).get_content()
    assert f"{11 + free} licenses" in body
    if free:
        assert f"(11 ordered + {free} free)" in body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", "", "Enter how many licenses to order."),
        ("quantity", "three", "Enter the quantity as a whole number"),
        ("quantity", "0", "Order between 1 and 1000"),
        ("quantity", "5000", "Order between 1 and 1000"),
        ("po_number", " ", "Enter the purchase order (PO) number."),
        ("installer_email", "", "Please enter email address"),
        ("installer_email", "tech@", "You have entered an invalid email address."),
        ("sku", "WBEXTWAR1YR-SP-01", "Extended warranties"),
        ("sku", "SCSTDTRIAL6M", "cannot be ordered"),
    ],
)
def test_order_errors_are_422_in_place_keep_the_input_and_change_nothing(app, cast, field, value, message):
    response = client_for(app, cast.partner).post("/partner/orders", data={**ORDER, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert 'value="PO-4411"' in page or field == "po_number"
    assert 'value="tech@volt.example"' in page or field == "installer_email"
    if field == "quantity":
        assert f'value="{value}"' in page
    assert _count(LicenseOrder) == 0 and _count(ActivationCode) == 0


def test_only_partners_order_and_signed_out_visitors_sign_in(app, cast):
    owner = client_for(app, cast.owner)
    assert owner.get("/partner/orders").status_code == 404
    assert owner.post("/partner/orders", data=ORDER).status_code == 404
    visitor = client_for(app, None)
    assert visitor.get("/partner/orders").status_code == 302
    assert visitor.post("/partner/orders", data=ORDER).status_code == 302
    assert _count(LicenseOrder) == 0


def test_a_partner_sees_only_its_own_orders(app, cast):
    client_for(app, cast.partner).post("/partner/orders", data=ORDER)
    page = client_for(app, cast.stranger).get("/partner/orders").get_data(as_text=True)
    assert "PO-4411" not in page and "No orders yet" in page
    fragment = (
        client_for(app, cast.partner)
        .get("/partner/orders", headers={"HX-Request": "true"})
        .get_data(as_text=True)
    )
    assert "<html" not in fragment and 'id="orders"' in fragment and "PO-4411" in fragment
    assert re.search(r"code …[0-9A-Z]{5}", fragment)
