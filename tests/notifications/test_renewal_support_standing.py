"""Renewal Support's "standing" rule has a Python form (`status_of`) and a SQL form (`_standing`): they agree.

Every stored status is tried with an expiry before, at and after `now`, so an edit to one form that
forgets the other (say, `<` against `<=` at the 7-day boundary) fails here.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import RenewalSupport
from portal.services.partners import renewal_support

STATUSES = ("pending", "accepted", "declined", "expired", "ended")
NOW = datetime(2026, 3, 10, 12, 0, 0)
EXPIRIES = (NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1))


def test_status_of_and_the_sql_standing_filter_agree(app, owner):
    rows = []
    for status, expires_at in itertools.product(STATUSES, EXPIRIES):
        row = RenewalSupport(
            customer_company_id=owner.company_id,
            reseller_email="sales@reseller.example",
            status=status,
            token_hash=secrets.token_hex(32),
            created_at=expires_at - renewal_support.INVITE_VALID,
            expires_at=expires_at,
        )
        db.session.add(row)
        rows.append(row)
    db.session.commit()

    standing_in_sql = set(
        db.session.scalars(select(RenewalSupport.id).where(renewal_support._standing(NOW))).all()
    )
    standing_in_python = {row.id for row in rows if renewal_support.status_of(row, NOW) in renewal_support.STANDING}

    assert standing_in_sql == standing_in_python
    # The boundary itself: an invite whose 7 days end exactly now no longer stands.
    assert {(r.status, r.expires_at) for r in rows if r.id in standing_in_sql} == {
        ("accepted", e) for e in EXPIRIES
    } | {("pending", NOW + timedelta(seconds=1))}
