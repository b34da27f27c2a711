"""Whatever sequence of assignments is asked for, a code never gives out more than its quantity."""

from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.extensions import db
from portal.models import ActivationCode, Entitlement, OrderChannel
from portal.services.errors import LicensingError
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quantity=st.integers(1, 6), requests=st.lists(st.integers(1, 4), min_size=1, max_size=6))
def test_code_quantity_is_never_exceeded(app, quantity, requests):
    customer = make_user()
    code = entitlements.place_order(
        ordered_by=customer, channel=OrderChannel.ONLINE, sku="SCSTD3Y", quantity=quantity, installer_email="a@b.example",
        today=date(2023, 1, 1), now=datetime(2023, 1, 1),
    )
    db.session.commit()
    granted = 0
    for wanted in requests:
        devices = [make_device(customer) for _ in range(wanted)]
        try:
            entitlements.assign_from_code(customer, code.code, devices, today=date(2026, 1, 10), now=datetime(2026, 1, 10))
            db.session.commit()
            granted += wanted
        except LicensingError:
            db.session.rollback()
            # Refused only when there really was not enough left; all or nothing.
            assert wanted > quantity - granted
    db.session.expire_all()
    assert db.session.get(ActivationCode, code.id).remaining == quantity - granted >= 0
    assert db.session.scalar(db.select(db.func.count(Entitlement.id)).where(Entitlement.activation_code_id == code.id)) == granted
