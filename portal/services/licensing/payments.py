"""Card payments through a gateway interface; the default is a sandbox with documented test cards.

A real gateway (Stripe, Adyen, ...) implements `PaymentGateway` and is selected by configuration;
the rest of the portal only sees `charge()` and `refund()`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from portal.services.errors import DomainError


class PaymentError(DomainError):
    """The card was refused or the payment could not be made; nothing was charged."""


@dataclass(frozen=True)
class Card:
    holder: str
    number: str
    expiry_month: int
    expiry_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class Payment:
    reference: str
    amount: Decimal
    currency: str
    card_last4: str


class PaymentGateway(Protocol):
    def charge(self, card: Card, amount: Decimal, currency: str, description: str) -> Payment: ...

    def refund(self, payment: Payment) -> None: ...


def luhn_valid(number: str) -> bool:
    digits = [int(ch) for ch in number]
    checksum = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        checksum += digit
    return checksum % 10 == 0


def parse_card(holder: str, number: str, expiry: str, cvc: str, *, today: date) -> Card:
    """A card from form text, or PaymentError naming the field that is wrong."""
    digits = "".join(ch for ch in (number or "") if not ch.isspace() and ch != "-")
    if not holder.strip():
        raise PaymentError("Enter the name on the card.", field="card_holder")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise PaymentError("This card number is not valid. Check the digits.", field="card_number")
    month_text, _, year_text = (expiry or "").strip().partition("/")
    if not (month_text.strip().isdigit() and year_text.strip().isdigit()):
        raise PaymentError("Enter the expiry date as MM/YY.", field="card_expiry")
    month, year = int(month_text), 2000 + int(year_text) % 100
    if not 1 <= month <= 12:
        raise PaymentError("Enter the expiry date as MM/YY.", field="card_expiry")
    if (year, month) < (today.year, today.month):
        raise PaymentError("This card has expired.", field="card_expiry")
    if not (cvc or "").strip().isdigit() or len(cvc.strip()) not in (3, 4):
        raise PaymentError("Enter the 3 or 4-digit security code.", field="card_cvc")
    return Card(holder.strip(), digits, month, year, cvc.strip())


# The sandbox's documented test cards (the same numbers the big gateways use for testing).
SANDBOX_APPROVED = {"4242424242424242", "5555555555554444", "378282246310005"}
SANDBOX_DECLINED = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
    "4000000000000069": "Your card has expired.",
}


class SandboxGateway:
    """Approves the test cards above, declines the others with their reason, and remembers charges."""

    def __init__(self) -> None:
        self.charges: list[Payment] = []
        self.refunds: list[Payment] = []

    def charge(self, card: Card, amount: Decimal, currency: str, description: str) -> Payment:
        if card.number in SANDBOX_DECLINED:
            raise PaymentError(SANDBOX_DECLINED[card.number], field="card_number")
        if card.number not in SANDBOX_APPROVED:
            raise PaymentError(
                "The payment sandbox accepts only its test cards, e.g. 4242 4242 4242 4242 (see docs/payments.md).",
                field="card_number",
            )
        payment = Payment(f"sbx_{secrets.token_hex(8)}", amount, currency, card.last4)
        self.charges.append(payment)
        return payment

    def refund(self, payment: Payment) -> None:
        self.refunds.append(payment)
