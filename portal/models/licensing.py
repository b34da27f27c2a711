"""License orders, activation codes and the entitlements assigned to devices."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company, User
from portal.models.devices import Device


class OrderChannel(enum.StrEnum):
    ONLINE = "online"
    PARTNER = "partner"


class LicenseOrder(db.Model):
    """An order of licenses: bought online by card, or placed by a partner for a customer."""

    __tablename__ = "license_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[OrderChannel] = mapped_column(Enum(OrderChannel, native_enum=False, length=16))
    po_number: Mapped[str] = mapped_column(String(60), default="")
    installer_email: Mapped[str] = mapped_column(String(254))
    ordered_by_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    customer_name: Mapped[str] = mapped_column(String(120), default="")
    placed_at: Mapped[datetime]

    ordered_by: Mapped[Company] = relationship()


class ActivationCode(db.Model):
    """A code carrying a quantity of one SKU; licenses are taken from it one device at a time."""

    __tablename__ = "activation_codes"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="ck_activation_codes_remaining_non_negative"),
        CheckConstraint("remaining <= quantity", name="ck_activation_codes_remaining_within_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # normalised, without dashes
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int]
    remaining: Mapped[int]
    paid_quantity: Mapped[int]
    order_id: Mapped[int] = mapped_column(ForeignKey("license_orders.id"), index=True)
    issued_on: Mapped[date]

    order: Mapped[LicenseOrder] = relationship()


class Entitlement(db.Model):
    """A term of a plan assigned to a device; the device's subscription is the timeline of these."""

    __tablename__ = "entitlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    plan: Mapped[str] = mapped_column(String(16))
    months: Mapped[int]
    bonus_months: Mapped[int] = mapped_column(default=0)  # promotion extra, included in months
    source: Mapped[str] = mapped_column(String(16))  # trial | license
    sku: Mapped[str] = mapped_column(String(40), default="")
    assigned_on: Mapped[date]
    assigned_at: Mapped[datetime]
    activation_code_id: Mapped[int | None] = mapped_column(ForeignKey("activation_codes.id"), index=True)
    assigned_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    device: Mapped[Device] = relationship()
    activation_code: Mapped[ActivationCode | None] = relationship()
    assigned_by: Mapped[User | None] = relationship()


class SubscriptionSegment(db.Model):
    """The device's timeline laid out as dated segments, rebuilt whenever an entitlement is added.

    It is derived data, kept so that fleet-wide questions (plan today, term end, renewal due) are one
    indexed query for ten thousand devices instead of ten thousand timeline computations.
    """

    __tablename__ = "subscription_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    plan: Mapped[str] = mapped_column(String(16))
    start: Mapped[date] = mapped_column(index=True)
    end: Mapped[date] = mapped_column(index=True)  # exclusive
    entitlement_id: Mapped[int] = mapped_column(ForeignKey("entitlements.id"))
