"""Test data built through the real services, so tests exercise the same rules users meet."""

from __future__ import annotations

import itertools
from datetime import datetime

from portal.extensions import db
from portal.models import CompanyKind, Device, DeviceShare, ShareStatus, User
from portal.services.accounts.users import sign_up

PASSWORD = "correct horse battery"
_serials = itertools.count(1)


def make_user(kind: CompanyKind = CompanyKind.CUSTOMER, *, email: str | None = None, company: str | None = None) -> User:
    n = next(_serials)
    user = sign_up(
        company_name=company or f"{kind.value.title()} Co {n}", kind=kind, country="France", city="Grenoble", phone="",
        user_name=f"User {n}", email=email or f"user{n}@{kind.value}{n}.example", password=PASSWORD, now=datetime(2026, 1, 1),
    )
    db.session.commit()
    return user


def make_device(owner: User | None = None, *, serial: str | None = None, battery_type: str = "lead-acid", model: str = "SMT1500C") -> Device:
    device = Device(
        serial=serial or f"AS26{next(_serials):08d}", model=model, firmware="UPS 09.8 (ID18)", battery_type=battery_type,
        outlet_groups=["Main Outlets", "Outlet Group 1"], owner_company_id=owner.company_id if owner else None,
        first_seen_at=datetime(2026, 1, 1), claimed_at=datetime(2026, 1, 1) if owner else None,
    )
    db.session.add(device)
    db.session.commit()
    return device


def share(device: Device, recipient: User) -> DeviceShare:
    row = DeviceShare(
        device_id=device.id, email=recipient.email, recipient_user_id=recipient.id, recipient_company_id=recipient.company_id,
        status=ShareStatus.ACTIVE, confirmation_code_hash="x" * 64, created_at=datetime(2026, 1, 1),
    )
    db.session.add(row)
    db.session.commit()
    return row


def login(client, user: User, password: str = PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})
