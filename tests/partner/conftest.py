"""Fixtures for the sharing and partner tests: an owner, a partner it shared with, a stranger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import CompanyKind, Device, User
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user, share


@dataclass
class Cast:
    owner: User
    partner: User
    stranger: User  # a partner nothing was shared with
    device: Device  # owned by owner, shared with partner
    other: Device  # owned by owner, not shared
    foreign: Device  # owned by someone else entirely


def today() -> date:
    from portal.services.clock import clock

    return clock().today()


def with_trial(device: Device, days_ago: int = 30) -> Device:
    """The device's 6-month trial, started days_ago before the (lab) business date."""
    day = today() - timedelta(days=days_ago)
    entitlements.start_trial(device, today=day, now=datetime.combine(day, datetime.min.time()))
    db.session.commit()
    return device


@pytest.fixture
def cast(app) -> Cast:
    owner = make_user(company="Harbour Data Centre")
    partner = make_user(CompanyKind.PARTNER, company="Volt Partners")
    stranger = make_user(CompanyKind.PARTNER, company="Other Reseller")
    device = with_trial(make_device(owner, model="SMT1500C"))
    other = with_trial(make_device(owner, model="SMT750C"))
    foreign = with_trial(make_device(make_user(company="Elsewhere Ltd"), model="SMX3000"))
    share(device, partner)
    return Cast(owner=owner, partner=partner, stranger=stranger, device=device, other=other, foreign=foreign)


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app):
    """The tests keep one app context open, so flask-login's cached user would outlive a request;
    forget it before each request so several clients can be signed in as different users."""
    from flask import g

    def forget() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


def client_for(app, user: User | None):
    """A test client signed in as the user (or signed out for None)."""
    from tests.portal.factories import login

    client = app.test_client()
    if user is not None:
        login(client, user)
    return client
