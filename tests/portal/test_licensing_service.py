"""The licensing engine over the database: trial, orders, codes and atomic assignment."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest

from portal import create_app
from portal.extensions import db
from portal.models import ActivationCode, CompanyKind, Entitlement, OrderChannel
from portal.services.errors import LicensingError
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import normalize_code
from portal.services.licensing.plans import Feature, Plan
from portal.services.licensing.subscription_timeline import current_segment
from tests.portal.factories import make_device, make_user, share

NOW = datetime(2026, 1, 10, 12, 0)


def _order(user, sku="SCSTD1Y", quantity=3, today=date(2026, 1, 10)) -> ActivationCode:
    code = entitlements.place_order(
        ordered_by=user, channel=OrderChannel.PARTNER, sku=sku, quantity=quantity, installer_email="installer@partner.example",
        po_number="PO-1", customer_name="Acme", today=today, now=NOW,
    )
    db.session.commit()
    return code


def _segments(device):
    return [(s.plan, s.start, s.end) for s in entitlements.device_timeline(device).segments]


def test_trial_is_six_months_of_standard_once_per_serial(app):
    owner = make_user()
    device = make_device(owner)
    assert entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW) is True
    db.session.commit()
    assert _segments(device) == [(Plan.STANDARD, date(2026, 1, 10), date(2026, 7, 10))]
    # Removed and registered again, even by another company: no second trial.
    device.owner_company_id = make_user().company_id
    assert entitlements.start_trial(device, today=date(2026, 5, 1), now=NOW) is False
    assert len(_segments(device)) == 1


@pytest.mark.parametrize(
    ("battery_type", "warranty_ends_on", "expected"),
    [
        ("lead-acid", None, date(2027, 1, 10)),  # a year from registration
        ("lead-acid", date(2027, 6, 1), date(2028, 6, 1)),  # a year on top of the existing warranty
        ("li-ion", None, None),
    ],
)
def test_trial_adds_a_year_of_battery_warranty_for_lead_acid(app, battery_type, warranty_ends_on, expected):
    device = make_device(make_user(), battery_type=battery_type)
    device.battery_warranty_ends_on = warranty_ends_on
    entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW)
    assert device.battery_warranty_ends_on == expected


def test_plan_gates_features_with_a_reason_naming_the_plan(app):
    device = make_device(make_user())
    with pytest.raises(LicensingError, match="Basic"):
        entitlements.require_feature(device, Feature.SELF_TEST, date(2026, 1, 10))
    entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW)
    db.session.flush()
    entitlements.require_feature(device, Feature.SELF_TEST, date(2026, 1, 10))
    with pytest.raises(LicensingError, match="Advanced"):
        entitlements.require_feature(device, Feature.OUTLET_REBOOT, date(2026, 1, 10))
    # The trial ends: back to Basic.
    with pytest.raises(LicensingError):
        entitlements.require_feature(device, Feature.SELF_TEST, date(2026, 7, 10))


def test_extended_warranty_skus_cannot_be_ordered_for_monitoring(app):
    partner = make_user(CompanyKind.PARTNER)
    with pytest.raises(LicensingError, match="do not extend SmartConnect monitoring"):
        _order(partner, sku="WBEXTWAR1YR-SP-01")
    assert db.session.scalar(db.select(db.func.count(ActivationCode.id))) == 0


@pytest.mark.parametrize("quantity", [0, -1, 1001])
def test_order_quantity_bounds(app, quantity):
    with pytest.raises(LicensingError, match="between 1 and 1000"):
        _order(make_user(CompanyKind.PARTNER), quantity=quantity)


def test_partial_assignment_appends_after_trial_and_the_rest_stays_usable(app):
    customer = make_user()
    partner = make_user(CompanyKind.PARTNER)
    first, second = make_device(customer), make_device(customer)
    for device in (first, second):
        entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW)
        share(device, partner)
    code = _order(partner, quantity=3)
    summary = entitlements.verify_code(code.code, today=date(2026, 3, 1))
    assert (summary.code.quantity, summary.code.remaining, summary.product.sku) == (3, 3, "SCSTD1Y")

    entitlements.assign_from_code(partner, code.code, [first], today=date(2026, 3, 1), now=NOW)
    db.session.commit()
    # Early renewal loses nothing: the year starts when the trial ends.
    assert _segments(first) == [
        (Plan.STANDARD, date(2026, 1, 10), date(2026, 7, 10)),
        (Plan.STANDARD, date(2026, 7, 10), date(2027, 7, 10)),
    ]
    assert entitlements.verify_code(code.code, today=date(2026, 3, 1)).code.remaining == 2

    # Months later the remaining two go to the other device: stacked, each term from its own start.
    entitlements.assign_from_code(partner, code.code, [second], today=date(2026, 9, 1), now=NOW)
    entitlements.assign_from_code(partner, code.code, [second], today=date(2026, 9, 1), now=NOW)
    db.session.commit()
    assert _segments(second) == [
        (Plan.STANDARD, date(2026, 1, 10), date(2026, 7, 10)),
        (Plan.STANDARD, date(2026, 9, 1), date(2027, 9, 1)),
        (Plan.STANDARD, date(2027, 9, 1), date(2028, 9, 1)),
    ]
    with pytest.raises(LicensingError, match="already been assigned"):
        entitlements.assign_from_code(partner, code.code, [first], today=date(2026, 9, 1), now=NOW)


def test_advanced_upgrade_starts_at_once_and_standard_resumes_after(app):
    customer = make_user()
    device = make_device(customer)
    entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW)
    code = _order(customer, sku="SCADV1Y", quantity=1, today=date(2023, 1, 1))  # outside any promotion
    entitlements.assign_from_code(customer, code.code, [device], today=date(2026, 4, 10), now=NOW)
    db.session.commit()
    segments = _segments(device)
    assert segments[1][0] == Plan.ADVANCED and segments[1][1] == date(2026, 4, 10)
    # 91 days of trial were left on 10 April; they resume when the Advanced term ends.
    advanced_end = segments[1][2]
    assert segments[2] == (Plan.STANDARD, advanced_end, advanced_end + (date(2026, 7, 10) - date(2026, 4, 10)))
    assert current_segment(entitlements.device_timeline(device), date(2026, 4, 10)).plan == Plan.ADVANCED


def test_assignment_is_all_or_nothing(app):
    customer = make_user()
    devices = [make_device(customer) for _ in range(3)]
    code = _order(customer, quantity=2)
    with pytest.raises(LicensingError, match="has 2 licenses left; select at most 2 devices"):
        entitlements.assign_from_code(customer, code.code, devices, today=date(2026, 1, 10), now=NOW)
    db.session.rollback()
    assert entitlements.verify_code(code.code, today=date(2026, 1, 10)).code.remaining == 2
    assert db.session.scalar(db.select(db.func.count(Entitlement.id))) == 0


def test_same_device_twice_in_one_assignment_is_refused(app):
    customer = make_user()
    device = make_device(customer)
    code = _order(customer, quantity=2)
    with pytest.raises(LicensingError, match="one license from a code at a time"):
        entitlements.assign_from_code(customer, code.code, [device, device], today=date(2026, 1, 10), now=NOW)


def test_only_the_owner_or_a_partner_it_shared_with_may_assign(app):
    customer, partner, stranger = make_user(), make_user(CompanyKind.PARTNER), make_user(CompanyKind.PARTNER)
    device = make_device(customer)
    code = _order(stranger, quantity=2)
    with pytest.raises(LicensingError, match="No such device"):
        entitlements.assign_from_code(stranger, code.code, [device], today=date(2026, 1, 10), now=NOW)
    db.session.rollback()
    share(device, partner)
    entitlements.assign_from_code(partner, code.code, [device], today=date(2026, 1, 10), now=NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the activation code"),
        ("ABCDE", "has 5"),
        ("0OOO-1111", "never use the characters 0, O, 1, I, L or U"),
    ],
)
def test_bad_codes_get_clear_messages(app, text, message):
    with pytest.raises(LicensingError) as error:
        entitlements.verify_code(text, today=date(2026, 1, 10))
    assert message in error.value.message


def test_mistyped_and_unknown_codes_are_told_apart(app):
    code = _order(make_user(CompanyKind.PARTNER)).code
    position = 3
    wrong_char = "B" if code[position] != "B" else "C"
    mistyped = code[:position] + wrong_char + code[position + 1 :]
    with pytest.raises(LicensingError, match="mistyped"):
        entitlements.verify_code(mistyped, today=date(2026, 1, 10))
    from portal.services.licensing.activation_codes import generate_code

    with pytest.raises(LicensingError, match="No activation code matches"):
        entitlements.verify_code(generate_code(), today=date(2026, 1, 10))
    # Case, spaces and dashes do not matter.
    formatted = "-".join(code[i : i + 5] for i in range(0, len(code), 5)).lower()
    assert entitlements.verify_code(f"  {formatted} ", today=date(2026, 1, 10)).code.code == normalize_code(code)


def _race(app_factory, code_text: str, device_ids: list[int], user_id: int) -> list[str]:
    """Each thread assigns one license to its own device at the same moment."""
    from portal.models import Device, User

    barrier = threading.Barrier(len(device_ids))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(app, device_id: int) -> None:
        result = "error"
        try:
            with app.app_context():
                try:
                    user = db.session.get(User, user_id)
                    device = db.session.get(Device, device_id)
                    barrier.wait(timeout=30)
                    entitlements.assign_from_code(user, code_text, [device], today=date(2026, 1, 10), now=NOW)
                    db.session.commit()
                    result = "ok"
                except LicensingError:
                    db.session.rollback()
                    result = "refused"
                finally:
                    db.session.remove()
                    db.engine.dispose()  # each thread's app has its own pool: close it, not leak it
        except Exception as error:  # a broken thread must fail the test, not hang the others
            barrier.abort()
            result = f"error: {error!r}"
        with lock:
            outcomes.append(result)

    # Apps are built here, one after another: building Flask apps in parallel threads trips a CPython
    # 3.11 bug in ast.parse (werkzeug compiles URL rules), which is not what this test is about.
    apps = [app_factory() for _ in device_ids]
    threads = [threading.Thread(target=worker, args=(app, device_id)) for app, device_id in zip(apps, device_ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _concurrent_redemption_never_exceeds_quantity(app):
    customer = make_user()
    devices = [make_device(customer) for _ in range(16)]
    code = _order(customer, quantity=5)
    config = dict(app.config)
    outcomes = _race(lambda: create_app(config), code.code, [d.id for d in devices], customer.id)
    db.session.expire_all()
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 11
    assert db.session.get(ActivationCode, code.id).remaining == 0
    assert db.session.scalar(db.select(db.func.count(Entitlement.id))) == 5


def test_concurrent_redemption_never_exceeds_quantity_on_sqlite(app):
    _concurrent_redemption_never_exceeds_quantity(app)


@pytest.mark.postgres
def test_concurrent_redemption_never_exceeds_quantity_on_postgres(pg_app):
    _concurrent_redemption_never_exceeds_quantity(pg_app)


def test_segments_table_mirrors_the_timeline(app):
    from portal.models import SubscriptionSegment

    customer = make_user()
    device = make_device(customer)
    entitlements.start_trial(device, today=date(2026, 1, 10), now=NOW)
    code = _order(customer, sku="SCSTD3Y", quantity=1)
    entitlements.assign_from_code(customer, code.code, [device], today=date(2026, 2, 1), now=NOW)
    db.session.commit()
    rows = db.session.scalars(db.select(SubscriptionSegment).order_by(SubscriptionSegment.start)).all()
    assert [(r.plan, r.start, r.end) for r in rows] == [
        ("standard", date(2026, 1, 10), date(2026, 7, 10)),
        ("standard", date(2026, 7, 10), date(2029, 7, 10)),
    ]


@pytest.mark.parametrize("case", ["none", "duplicate", "not_shared", "too_many", "used_up"])
def test_preview_refuses_exactly_what_assigning_refuses(app, case):
    """The preview runs assignment's own check, so the two can never disagree on a refusal or its wording."""
    from portal.services.partners import assignment_preview

    partner = make_user(CompanyKind.PARTNER)
    owner = make_user()
    devices = [make_device(owner) for _ in range(3)]
    for device in devices[:2]:
        share(device, partner)
    db.session.commit()
    code = _order(partner, quantity=1)
    if case == "used_up":
        entitlements.assign_from_code(partner, code.code, devices[:1], today=date(2026, 1, 10), now=NOW)
        db.session.commit()
    chosen = {
        "none": [], "duplicate": [devices[0], devices[0]], "not_shared": [devices[2]], "too_many": devices[:2],
        "used_up": devices[1:2],
    }[case]
    summary = entitlements.verify_code(code.code, today=date(2026, 1, 10))
    with pytest.raises(LicensingError) as previewed:
        assignment_preview.preview(partner, summary, chosen, today=date(2026, 1, 10))
    with pytest.raises(LicensingError) as assigned:
        entitlements.assign_from_code(partner, code.code, chosen, today=date(2026, 1, 10), now=NOW)
    db.session.rollback()
    assert (str(previewed.value), previewed.value.field) == (str(assigned.value), assigned.value.field)
