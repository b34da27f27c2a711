"""Demo companies and users for a fresh install, made with Faker."""

from __future__ import annotations

import secrets
from pathlib import Path

from faker import Faker
from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, CompanyKind, User
from portal.services.accounts.users import sign_up
from portal.services.clock import utcnow

CREDENTIALS_FILE = "demo-credentials.txt"


def _credential_line(role: str, user: User, password: str) -> str:
    return f"{role:<9} {user.company.name:<34} {user.email:<36} password: {password}"


def ensure_demo_data(*, seed: int, instance_path: str) -> list[str]:
    """Create a customer and a partner company with an admin each, once; return their sign-in lines.

    Passwords are random per install and kept in the instance folder (mode 600) so they can be shown
    again at every start without storing them in the database.
    """
    path = Path(instance_path) / CREDENTIALS_FILE
    demo_exists = db.session.scalar(select(Company.id).limit(1)) is not None
    if demo_exists and path.exists():
        return path.read_text().splitlines()
    if demo_exists:
        return ["Demo data was created earlier but its credentials file is gone; sign up a new company instead."]

    fake = Faker()
    fake.seed_instance(seed)
    lines = []
    for role, kind, company_name in (
        ("customer", CompanyKind.CUSTOMER, fake.company()),
        ("partner", CompanyKind.PARTNER, f"{fake.last_name()} IT Services"),
    ):
        first, last = fake.first_name(), fake.last_name()
        domain = "".join(ch for ch in company_name.lower() if ch.isalnum())[:20] + ".example"
        password = secrets.token_urlsafe(12)
        user = sign_up(
            company_name=company_name, kind=kind, country=fake.country(), city=fake.city(), phone=fake.phone_number()[:40],
            user_name=f"{first} {last}", email=f"{first}.{last}@{domain}".lower(), password=password, now=utcnow(),
        )
        lines.append(_credential_line(role, user, password))
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return lines
