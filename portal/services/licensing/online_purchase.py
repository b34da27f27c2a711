"""Buying licenses online: price the chosen plan and term per device, charge the card, assign at once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from portal.models import Device, OrderChannel, User
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound
from portal.services.licensing import entitlements
from portal.services.licensing.payments import Card, Payment, PaymentGateway
from portal.services.licensing.price_list import load_price_list
from portal.services.licensing.products import LicenseProduct, sellable_product_for_sku
from portal.services.licensing.promotions import Bonus, activation_bonus


@dataclass(frozen=True)
class CartLine:
    device: Device
    product: LicenseProduct
    price: Decimal
    bonus: Bonus | None = None  # the promotion's free months, when activated today

    @property
    def months(self) -> int:
        """How long the license runs once assigned today: its term plus any promotion's free months."""
        return self.product.months + (self.bonus.months if self.bonus else 0)


@dataclass(frozen=True)
class Cart:
    lines: tuple[CartLine, ...]
    currency: str

    @property
    def total(self) -> Decimal:
        return sum((line.price for line in self.lines), Decimal("0.00"))


@dataclass(frozen=True)
class Purchase:
    payment: Payment
    cart: Cart
    # Codes that still carry licenses (a volume promotion's free ones), to use on other devices later.
    leftover_codes: tuple[str, ...] = ()


def build_cart(
    user: User, choices: dict[int, str], *, price_list_path: str | None = None, today: date | None = None
) -> Cart:
    """One license per chosen device, priced from the price list; devices the user may not act on are 404."""
    if not choices:
        raise DomainError("Select at least one device to buy a license for.", field="devices")
    prices = load_price_list(price_list_path)
    lines = []
    for device_id, sku in sorted(choices.items()):
        device = access.device_for(user, device_id)
        product = sellable_product_for_sku(sku)
        price = prices.price_for(product.sku)
        if price is None:
            raise DomainError(f"{product.sku} has no price in the price list and cannot be bought online.", field="devices")
        lines.append(CartLine(device, product, price, activation_bonus(product, today) if today else None))
    return Cart(tuple(lines), prices.currency)


def buy(user: User, cart: Cart, card: Card, gateway: PaymentGateway, *, today: date, now: datetime) -> Purchase:
    """Charge the card, then order and assign every license; a refused card changes nothing.

    The caller commits; if assigning fails after the charge, the charge is refunded and the error raised.
    """
    for line in cart.lines:
        if not access.may_act_on(user, line.device):
            raise NotFound(access.NOT_FOUND)
    description = ", ".join(f"{line.product.sku} for {line.device.serial}" for line in cart.lines)
    payment = gateway.charge(card, cart.total, cart.currency, description)
    try:
        leftovers = []
        by_sku: dict[str, list[Device]] = defaultdict(list)
        for line in cart.lines:
            by_sku[line.product.sku].append(line.device)
        for sku, devices in by_sku.items():
            code = entitlements.place_order(
                ordered_by=user, channel=OrderChannel.ONLINE, sku=sku, quantity=len(devices), installer_email=user.email,
                po_number=f"Card {payment.reference}", today=today, now=now,
            )
            entitlements.assign_from_code(user, code.code, devices, today=today, now=now)
            if code.remaining:
                leftovers.append(code.code)
    except DomainError:
        gateway.refund(payment)
        raise
    return Purchase(payment, cart, tuple(leftovers))
