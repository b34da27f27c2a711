"""Dashboard response time with 10,000 devices in the database: the page and its table partial.

Builds a fresh SQLite database (or the one at --database-url) with one customer owning N devices,
each with a latest status row and a subscription segment, then times requests through the Flask test
client (no network) and prints the count, median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from werkzeug.security import generate_password_hash

from portal import create_app
from portal.extensions import db
from portal.models import Company, CompanyKind, Device, DeviceStatus, Entitlement, SubscriptionSegment, User
from portal.services.fleet.stored_facts import status_facts

MODELS = ("SMT750C", "SMT1500C", "SMT2200C", "SMC1500C", "SMT1500IC")
STATUSES = ("OL CHRG",) * 8 + ("OB DISCHRG", "OB DISCHRG LB", "OL RB")
PASSWORD = "bench password 1"


def populate(count: int, today: date) -> str:
    rng = random.Random(7)
    now = datetime.utcnow()
    company = Company(name="Bench Co", kind=CompanyKind.CUSTOMER, country="France", created_at=now)
    user = User(company=company, email="bench@bench.example", name="Bench", password_hash=generate_password_hash(PASSWORD), is_admin=True, created_at=now)
    db.session.add_all([company, user])
    db.session.flush()
    segments = [
        {"device_id": i, "plan": rng.choice(("standard", "advanced")), "start": today - timedelta(days=30),
         "end": today + timedelta(days=rng.randint(1, 700)), "entitlement_id": i}
        for i in range(1, count + 1)
    ]
    # Each device stores its standing as licensing.stored_standing would from its one segment.
    devices = [
        {"id": i, "serial": f"AS26{i:08d}", "model": rng.choice(MODELS), "firmware": "UPS 15.1 (ID1029)", "battery_type": "lead-acid",
         "outlet_groups": ["Main Outlets", "Outlet Group 1"], "owner_company_id": company.id, "name": f"rack-{i}",
         "site": f"Site {i % 40}", "first_seen_at": now, "plan_today": segment["plan"], "term_end": segment["end"],
         "on_trial": False, "standing_on": today, "standing_until": segment["end"]}
        for i, segment in zip(range(1, count + 1), segments, strict=True)
    ]
    db.session.execute(Device.__table__.insert(), devices)
    statuses = []
    for i in range(1, count + 1):
        status = rng.choice(STATUSES)
        variables = {"ups.status": status, "ups.load": rng.randint(5, 95), "battery.charge": rng.randint(10, 100), "battery.runtime": rng.randint(300, 4000)}
        statuses.append({"device_id": i, "online": rng.random() > 0.02, "last_seen_at": now, "last_seq": 1, "ups_status": status,
                         "variables": variables, **status_facts(status, variables)})
    db.session.execute(DeviceStatus.__table__.insert(), statuses)
    db.session.execute(Entitlement.__table__.insert(), [
        {"id": i, "device_id": i, "plan": "standard", "months": 12, "bonus_months": 0, "source": "license", "sku": "SCSTD1Y",
         "assigned_on": today, "assigned_at": now}
        for i in range(1, count + 1)
    ])
    db.session.execute(SubscriptionSegment.__table__.insert(), segments)
    db.session.commit()
    return user.email


def timed(client, url: str, requests: int, headers: dict | None = None) -> list[float]:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def _next_page_link(client, path: str) -> str:
    """The Next link of a page, as a person following the pages gets it (it carries the seek cursor)."""
    body = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    link = re.search(r'<a class="button" href="([^"]+)"[^>]*>Next', body)
    return html.unescape(link.group(1)) if link else path


def measure(devices: int, requests: int, database_url: str | None) -> dict[str, tuple[float, float]]:
    """(p50, p95) in ms per request kind, for one company owning ``devices`` devices; prints the table."""
    folder = Path(tempfile.mkdtemp(prefix="upsconnect-bench-"))
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        email = populate(devices, date.today())
    client = app.test_client()
    client.post("/login", data={"email": email, "password": PASSWORD})
    cases = [
        ("dashboard page", "/dashboard", None),
        ("table partial", "/dashboard", {"HX-Request": "true"}),
        ("partial, filtered by mode", "/dashboard?mode=on_battery", {"HX-Request": "true"}),
        ("partial, sorted by load, page 40", "/dashboard?sort=-load&page=40", {"HX-Request": "true"}),
        ("partial, search", "/dashboard?q=rack-99", {"HX-Request": "true"}),
        ("partial, sorted by load, page 40 by cursor", _next_page_link(client, "/dashboard?sort=-load&page=39"), {"HX-Request": "true"}),
    ]
    print(f"{devices} devices, {requests} requests per row, {url.split(':')[0]}")
    print(f"{'request':<44} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}")
    figures = {}
    for label, path, headers in cases:
        timed(client, path, 5, headers)  # warm caches
        times = timed(client, path, requests, headers)
        figures[label] = (statistics.median(times), statistics.quantiles(times, n=20)[18])
        print(f"{label:<44} {len(times):>6} {figures[label][0]:>8.1f} {figures[label][1]:>8.1f}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per URL")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument(
        "--scale-to", type=int, default=None, metavar="N",
        help="also measure N devices (a new SQLite file) in the same run and print the cost ratio per request",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.devices < 1 or args.requests < 20 or (args.scale_to is not None and args.scale_to < 1):
        parser.error("--devices and --scale-to must be at least 1, --requests at least 20")
    figures = measure(args.devices, args.requests, args.database_url)
    print(f"target: p95 under 100 ms; worst p95 {max(p95 for _, p95 in figures.values()):.1f} ms")
    if args.scale_to:
        larger = measure(args.scale_to, args.requests, None)
        print(f"cost at {args.scale_to} devices / cost at {args.devices} devices (target at most 2.0):")
        print(f"{'request':<44} {'p50 ratio':>10} {'p95 ratio':>10}")
        for label, (p50, p95) in figures.items():
            print(f"{label:<44} {larger[label][0] / p50:>10.2f} {larger[label][1] / p95:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
