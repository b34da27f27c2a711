"""A partner orders licenses for a customer; the activation code goes to the Installer Email.

entitlements.place_order makes the order and its code; this module checks the form's fields first
(so nothing is written on error) and queues the activation-code email in the order's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import ActivationCode, LicenseOrder, OrderChannel, User
from portal.services.accounts.users import normalize_email
from portal.services.errors import AccountError, LicensingError
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import format_code
from portal.services.licensing.products import (
    SELLABLE_PRODUCTS,
    LicenseProduct,
    sellable_product_for_sku,
)
from portal.services.outbox.email_templates import render_email
from portal.services.outbox.queue import enqueue

MAX_PO_LENGTH = 60
MAX_CUSTOMER_LENGTH = 120


@dataclass(frozen=True)
class PlacedOrder:
    code: ActivationCode
    product: LicenseProduct

    @property
    def order(self) -> LicenseOrder:
        return self.code.order

    @property
    def free_quantity(self) -> int:
        return self.code.quantity - self.code.paid_quantity


def order_for_customer(
    partner: User,
    *,
    sku: str,
    quantity: str,
    po_number: str,
    installer_email: str,
    customer_name: str,
    today: date,
    now: datetime,
    verify_url: str,
    shared_url: str,
) -> PlacedOrder:
    """A partner order of one SKU, its activation code emailed (queued) to the Installer Email.

    Every field is checked before anything is written.
    """
    if not partner.company.is_partner:
        raise LicensingError("Only partner companies order licenses for customers.")
    product = sellable_product_for_sku(sku or "")
    count = _whole_number(quantity)
    po = (po_number or "").strip()
    if not po:
        raise LicensingError("Enter the purchase order (PO) number.", field="po_number")
    if len(po) > MAX_PO_LENGTH:
        raise LicensingError(f"Use at most {MAX_PO_LENGTH} characters for the PO number.", field="po_number")
    customer = (customer_name or "").strip()
    if len(customer) > MAX_CUSTOMER_LENGTH:
        raise LicensingError(
            f"Use at most {MAX_CUSTOMER_LENGTH} characters for the customer.", field="customer_name"
        )
    try:
        email = normalize_email(installer_email)
    except AccountError as error:
        raise LicensingError(error.message, field="installer_email") from None
    code = entitlements.place_order(
        ordered_by=partner,
        channel=OrderChannel.PARTNER,
        sku=product.sku,
        quantity=count,
        installer_email=email,
        po_number=po,
        customer_name=customer,
        today=today,
        now=now,
    )
    placed = PlacedOrder(code=code, product=product)
    subject, text = _activation_email(placed, verify_url=verify_url, shared_url=shared_url)
    enqueue(
        partner.company_id,
        "email",
        email,
        subject,
        {"text": text},
        event_type="activation_code",
        now=now,
        confidential=True,  # the code assigns licenses
    )
    return placed


def _whole_number(text: str) -> int:
    value = (text or "").strip()
    if not value:
        raise LicensingError("Enter how many licenses to order.", field="quantity")
    if not (value.isascii() and value.isdigit()):
        raise LicensingError("Enter the quantity as a whole number, like 3.", field="quantity")
    return int(value)


def _activation_email(placed: PlacedOrder, *, verify_url: str, shared_url: str) -> tuple[str, str]:
    """(subject, text) of the Installer Email: SKU, quantity, PO number, the code and how to assign it."""
    code = placed.code
    subject = f"Activation code for {code.quantity} x {code.sku} (PO {placed.order.po_number})"
    text = render_email(
        "email/activation_code.txt",
        placed=placed,
        code=code,
        order=placed.order,
        product=placed.product,
        formatted_code=format_code(code.code),
        verify_url=verify_url,
        shared_url=shared_url,
    )
    return subject, text


def recent_orders(partner: User, limit: int = 20) -> list[ActivationCode]:
    """The codes of the partner company's latest orders, newest first."""
    return list(
        db.session.scalars(
            select(ActivationCode)
            .join(LicenseOrder, LicenseOrder.id == ActivationCode.order_id)
            .where(LicenseOrder.ordered_by_company_id == partner.company_id)
            .order_by(LicenseOrder.placed_at.desc(), ActivationCode.id.desc())
            .limit(limit)
        )
    )


def product_choices() -> list[tuple[str, str]]:
    """(SKU, label) for the order form's product list."""
    return [(p.sku, f"{p.sku} · {p.display_name}") for p in SELLABLE_PRODUCTS]
