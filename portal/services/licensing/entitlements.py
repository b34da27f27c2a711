"""The licensing engine over the database: trials, orders, activation codes and assignments.

The rules themselves (timelines, plans, products, promotions, code format) are pure modules beside
this one; this module reads and writes the rows and keeps redemption atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, update

from portal.extensions import db
from portal.models import (
    ActivationCode,
    Device,
    Entitlement,
    LicenseOrder,
    OrderChannel,
    SubscriptionSegment,
    User,
)
from portal.services.accounts import access
from portal.services.calendar_dates import add_months
from portal.services.errors import LicensingError
from portal.services.licensing.activation_codes import check_code_format, generate_code
from portal.services.licensing.plans import Feature, Plan, why_not
from portal.services.licensing.products import (
    TRIAL_PRODUCT,
    LicenseProduct,
    product_for_sku,
    sellable_product_for_sku,
    trial_battery_warranty_bonus_months,
)
from portal.services.licensing.promotions import (
    activation_bonus,
    activation_bonus_months,
    order_free_quantity,
)
from portal.services.licensing.subscription_timeline import Entitlement as TimelineEntry
from portal.services.licensing.subscription_timeline import (
    Standing,
    Timeline,
    build_timeline,
    paid_through,
    standing_on,
)

MAX_ORDER_QUANTITY = 1000
UNKNOWN_CODE = "No activation code matches what you entered. Check it against the Installer Email."


def _entitlement_rows(device: Device) -> list[Entitlement]:
    return list(
        db.session.scalars(
            select(Entitlement).where(Entitlement.device_id == device.id).order_by(Entitlement.assigned_at, Entitlement.id)
        )
    )


def timeline_entries(device: Device) -> list[TimelineEntry]:
    """Every entitlement ever assigned to the device, as the pure timeline reads them (assignment order)."""
    return _entries_of(_entitlement_rows(device))


def _entries_of(rows: list[Entitlement]) -> list[TimelineEntry]:
    return [
        TimelineEntry(id=row.id, plan=Plan.from_key(row.plan), months=row.months, assigned_on=row.assigned_on, source=row.source)
        for row in rows
    ]


def device_timeline(device: Device) -> Timeline:
    """The device's subscription, rebuilt from every entitlement ever assigned to it."""
    return build_timeline(timeline_entries(device))


def refresh_segments(device: Device, today: date) -> None:
    """Rewrite the device's dated segments from its timeline, and its stored standing; call after adding entitlements."""
    db.session.flush()
    db.session.execute(delete(SubscriptionSegment).where(SubscriptionSegment.device_id == device.id))
    db.session.add_all(
        SubscriptionSegment(device_id=device.id, plan=s.plan.key, start=s.start, end=s.end, entitlement_id=s.entitlement_id)
        for s in device_timeline(device).segments
    )
    store_standing(device, today)
    db.session.flush()


@dataclass(frozen=True)
class StoredStanding:
    """The standing as the device row stores it for fleet-wide queries (see licensing.stored_standing)."""

    plan_today: str
    term_end: date | None  # paid_through: the end of the last segment
    on_trial: bool
    standing_until: date | None  # the next segment boundary after the day: the stored values change then


def entitlement_rows_by_device(device_ids: list[int]) -> dict[int, list[Entitlement]]:
    """Each device's entitlement rows in assignment order, read in one query for many devices."""
    found: dict[int, list[Entitlement]] = {device_id: [] for device_id in device_ids}
    query = (
        select(Entitlement)
        .where(Entitlement.device_id.in_(device_ids))
        .order_by(Entitlement.device_id, Entitlement.assigned_at, Entitlement.id)
    )
    for row in db.session.scalars(query):
        found[row.device_id].append(row)
    return found


def stored_standing_on(device: Device, today: date, rows: list[Entitlement] | None = None) -> StoredStanding:
    """The device's stored standing as it must be on `today`, from `standing_on` and its timeline.

    ``rows`` are the device's entitlement rows when the caller read them for many devices at once
    (`entitlement_rows_by_device`); otherwise they are read here.
    """
    rows = _entitlement_rows(device) if rows is None else rows
    timeline = build_timeline(_entries_of(rows))
    standing = standing_on(timeline, today, frozenset(row.id for row in rows if row.source == "trial"))
    boundaries = [day for segment in timeline.segments for day in (segment.start, segment.end) if day > today]
    return StoredStanding(standing.plan.key, paid_through(timeline), standing.on_trial, min(boundaries, default=None))


def store_standing(device: Device, today: date, rows: list[Entitlement] | None = None) -> None:
    """Write the device's standing on `today` to its row: the one writer of those columns."""
    facts = stored_standing_on(device, today, rows)
    device.plan_today, device.term_end = facts.plan_today, facts.term_end
    device.on_trial, device.standing_until = facts.on_trial, facts.standing_until
    device.standing_on = today


def device_standing(device: Device, today: date) -> Standing:
    """The device's plan today, its trial, its queued terms: compute once per request and pass it down."""
    rows = _entitlement_rows(device)
    timeline = build_timeline(_entries_of(rows))
    return standing_on(timeline, today, frozenset(row.id for row in rows if row.source == "trial"))


def bonus_notes(device: Device) -> dict[int, str]:
    """{entitlement id: "Advanced plan promotion: +3 free months"} for the device's licenses a promotion extended."""
    notes = {}
    for row in _entitlement_rows(device):
        if row.bonus_months:
            try:
                bonus = activation_bonus(sellable_product_for_sku(row.sku), row.assigned_on)
            except LicensingError:
                bonus = None
            name = bonus.promotion if bonus else "Promotion"
            notes[row.id] = f"{name}: +{row.bonus_months} free month{'s' if row.bonus_months != 1 else ''}"
    return notes


def current_plan(device: Device, today: date) -> Plan:
    """The plan the device is on that day (Basic when nothing runs)."""
    return device_standing(device, today).plan


def require_feature(device: Device, feature: Feature, today: date) -> None:
    """LicensingError naming the plan that allows the feature, unless the device's plan allows it now."""
    reason = why_not(current_plan(device, today), feature)
    if reason:
        raise LicensingError(reason)


def start_trial(device: Device, *, today: date, now: datetime) -> bool:
    """Grant the 6-month Standard trial on a serial's first registration, ever; True when granted.

    Lead-acid units registering for the trial also get an extra year of battery warranty.
    """
    if device.trial_started_on is not None:
        return False
    device.trial_started_on = today
    db.session.add(
        Entitlement(device_id=device.id, plan=TRIAL_PRODUCT.plan.key, months=TRIAL_PRODUCT.months, source="trial",
                    sku=TRIAL_PRODUCT.sku, assigned_on=today, assigned_at=now)
    )
    bonus = trial_battery_warranty_bonus_months(device.battery_type)
    if bonus:
        base = max(device.battery_warranty_ends_on or today, today)
        device.battery_warranty_ends_on = add_months(base, bonus)
    refresh_segments(device, today)
    return True


def place_order(
    *,
    ordered_by: User,
    channel: OrderChannel,
    sku: str,
    quantity: int,
    installer_email: str,
    po_number: str = "",
    customer_name: str = "",
    today: date,
    now: datetime,
) -> ActivationCode:
    """An order of one SKU; returns its activation code, with any promotion's free licenses added."""
    product = sellable_product_for_sku(sku)
    if not 1 <= quantity <= MAX_ORDER_QUANTITY:
        raise LicensingError(f"Order between 1 and {MAX_ORDER_QUANTITY} licenses at a time.", field="quantity")
    order = LicenseOrder(
        channel=channel, po_number=po_number.strip(), installer_email=installer_email, ordered_by_company_id=ordered_by.company_id,
        customer_name=customer_name.strip(), placed_at=now,
    )
    total = quantity + order_free_quantity(product, quantity, today)
    code = ActivationCode(
        code=_unused_code(), sku=product.sku, quantity=total, remaining=total, paid_quantity=quantity, order=order, issued_on=today,
    )
    db.session.add_all([order, code])
    db.session.flush()
    return code


def _unused_code() -> str:
    while True:  # a collision at 100+ bits is all but impossible; checking costs one query
        code = check_code_format(generate_code())
        if db.session.scalar(select(ActivationCode.id).where(ActivationCode.code == code)) is None:
            return code


@dataclass(frozen=True)
class CodeSummary:
    """What a code carries, as Verify Activation Code shows it."""

    code: ActivationCode
    product: LicenseProduct
    bonus_months_today: int

    @property
    def used(self) -> int:
        return self.code.quantity - self.code.remaining

    @property
    def free_quantity(self) -> int:
        return self.code.quantity - self.code.paid_quantity


def verify_code(text: str, *, today: date) -> CodeSummary:
    """The code's SKU, quantity and what is left, or a message telling mistyped from unknown."""
    normalized = check_code_format(text)
    code = db.session.scalar(select(ActivationCode).where(ActivationCode.code == normalized))
    if code is None:
        raise LicensingError(UNKNOWN_CODE, field="code")
    product = product_for_sku(code.sku)
    return CodeSummary(code=code, product=product, bonus_months_today=activation_bonus_months(product, today))


def check_quantity_left(left: int, wanted: int) -> None:
    """LicensingError when a code with `left` licenses cannot cover `wanted` devices."""
    if left == 0:
        raise LicensingError("Every license on this activation code has already been assigned.", field="code")
    if wanted > left:
        raise LicensingError(
            f"This activation code has {left} license{'s' if left != 1 else ''} left; select at most {left} device{'s' if left != 1 else ''}.",
            field="devices",
        )


def check_assignment(actor: User, summary: CodeSummary, devices: list[Device]) -> None:
    """Everything assigning checks before it writes; the preview runs this very function."""
    check_assignable(actor, devices)
    check_quantity_left(summary.code.remaining, len(devices))


def check_assignable(actor: User, devices: list[Device]) -> None:
    """LicensingError unless the devices are distinct, at least one, and all the actor's to act on."""
    if not devices:
        raise LicensingError("Select at least one device to assign a license to.", field="devices")
    if len({device.id for device in devices}) != len(devices):
        raise LicensingError("Each device can take one license from a code at a time.", field="devices")
    for device in devices:
        if not access.may_act_on(actor, device):
            raise LicensingError(access.NOT_FOUND, field="devices")


def assign_from_code(actor: User, code_text: str, devices: list[Device], *, today: date, now: datetime) -> list[Entitlement]:
    """Assign one license from the code to each device, all or nothing.

    The quantity is taken with one conditional UPDATE, so concurrent requests can never give out more
    licenses than the code carries; the caller commits, or rolls back on LicensingError.
    """
    summary = verify_code(code_text, today=today)
    check_assignment(actor, summary, devices)
    wanted = len(devices)
    taken = db.session.execute(
        update(ActivationCode)
        .where(ActivationCode.id == summary.code.id, ActivationCode.remaining >= wanted)
        .values(remaining=ActivationCode.remaining - wanted)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # another request took licenses since the check above
        left = db.session.scalar(select(ActivationCode.remaining).where(ActivationCode.id == summary.code.id)) or 0
        check_quantity_left(left, wanted)
        raise LicensingError("This activation code changed while you were assigning it; try again.", field="code")
    db.session.expire(summary.code, ["remaining"])
    entitlements = [
        _add_license(device, summary.product, today=today, now=now, actor=actor, code=summary.code, bonus=summary.bonus_months_today)
        for device in devices
    ]
    for device in devices:
        refresh_segments(device, today)
    return entitlements


def _add_license(
    device: Device, product: LicenseProduct, *, today: date, now: datetime, actor: User, code: ActivationCode | None, bonus: int
) -> Entitlement:
    entitlement = Entitlement(
        device_id=device.id, plan=product.plan.key, months=product.months + bonus, bonus_months=bonus, source="license",
        sku=product.sku, assigned_on=today, assigned_at=now, activation_code_id=code.id if code else None,
        assigned_by_user_id=actor.id,
    )
    db.session.add(entitlement)
    db.session.flush()
    return entitlement
