"""A small fleet with known figures: an owner, a partner it shared with, a partner it did not share with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest

from portal.extensions import db
from portal.models import CompanyKind, Device, DeviceStatus, User
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user, share

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, 0)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()


@dataclass
class Fleet:
    owner: User
    partner: User  # the owner shared devices a and b with this partner
    stranger: User  # a partner nobody shared anything with
    other_customer: User
    a: Device  # reports battery.date.maintenance
    b: Device  # replace-by from installation date + design life
    c: Device  # not shared, no status
    foreign: Device  # belongs to other_customer


def _status(device: Device, variables: dict, ups_status: str = "OL") -> None:
    db.session.add(
        DeviceStatus(
            device_id=device.id,
            online=True,
            last_seen_at=NOW,
            last_telemetry_at=NOW,
            last_seq=1,
            ups_status=ups_status,
            variables=variables,
        )
    )


@pytest.fixture
def fixed_clock(app):
    app.extensions["upsconnect.clock"] = FixedClock(NOW)
    return app.extensions["upsconnect.clock"]


@pytest.fixture
def fleet(app, fixed_clock) -> Fleet:
    owner = make_user(company="Acme Hospital")
    partner = make_user(CompanyKind.PARTNER, company="Volt Partners")
    stranger = make_user(CompanyKind.PARTNER, company="Other Reseller")
    other_customer = make_user(company="Other Customer")

    a = make_device(owner, serial="AS2600000001", model="SMT1500C")
    a.name, a.site, a.firmware = "Rack A UPS", "Grenoble", "UPS 09.8 (ID18)"
    a.battery_installed_on, a.warranty_ends_on = date(2024, 5, 1), date(2027, 3, 31)
    _status(
        a,
        {
            "ups.load": "23.0",
            "battery.charge": 100,
            "ups.temperature": "31.5",
            "battery.date.maintenance": "2027-06-15",
            "input.transfer.reason": "AcceptableInput",
        },
    )

    b = make_device(owner, serial="AS2600000002", model="SMT2200IC")
    b.name, b.site, b.firmware = '=HYPERLINK("x")', "Lyon", "UPS 15.8 (ID1029)"
    b.battery_installed_on, b.warranty_ends_on = date(2022, 1, 10), date(2026, 12, 31)
    _status(b, {"ups.load": 61.4, "battery.charge": "88", "ups.temperature": 27})

    c = make_device(owner, serial="AS2600000003", model="SMC1000IC")
    c.name, c.site = "Closet", "Grenoble"

    foreign = make_device(other_customer, serial="AS2600000099", model="SMT750C")
    for device in (a, b, c, foreign):
        entitlements.start_trial(device, today=date(2026, 9, 1), now=datetime(2026, 9, 1, 8))
    db.session.commit()
    share(a, partner)
    share(b, partner)
    return Fleet(owner, partner, stranger, other_customer, a, b, c, foreign)
