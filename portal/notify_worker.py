"""`flask notify` sends the notification outbox; `flask renewals` raises renewal notices."""

from __future__ import annotations

import signal
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.extensions import db


@click.command("notify")
@click.option("--once", is_flag=True, help="Send what is due now and exit (tests, cron).")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between looks at the outbox.")
@click.option("--batch", default=100, show_default=True, help="Deliveries taken per pass.")
@click.option(
    "--max-attempts", default=5, show_default=True, help="Attempts before a delivery is marked failed."
)
@click.option(
    "--backoff",
    "backoff_s",
    default=30.0,
    show_default=True,
    help="First retry delay in seconds; doubles each time.",
)
@with_appcontext
def notify_command(once: bool, interval: float, batch: int, max_attempts: int, backoff_s: float) -> None:
    """Deliver pending notifications (email, Slack, Teams, webhooks), retrying with exponential backoff."""
    from portal.services.clock import clock
    from portal.services.outbox.queue import deliver_due

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    if not once:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    while True:
        try:
            stats = deliver_due(
                clock().now(), limit=batch, max_attempts=max_attempts, backoff_base_s=backoff_s
            )
        except Exception:  # the database may be locked or down: keep the worker alive
            db.session.rollback()
            current_app.logger.exception("notify pass failed")
            stats = None
        if stats and (stats.sent or stats.retried or stats.failed):
            current_app.logger.info(
                "notify: sent %s, retrying %s, failed %s", stats.sent, stats.retried, stats.failed
            )
        if once:
            if stats:
                click.echo(f"sent {stats.sent}, retrying {stats.retried}, failed {stats.failed}")
            return
        if stats and stats.sent + stats.retried + stats.failed >= batch:
            continue  # more may be due
        slept = 0.0
        while slept < interval and not stopping:
            time.sleep(0.1)
            slept += 0.1
        if stopping:
            return


@click.command("renewals")
@with_appcontext
def renewals_command() -> None:
    """Raise renewal and Renewal Support notices that are due; safe to run any number of times."""
    from portal.services.alerts.renewal_notices import run_renewals
    from portal.services.clock import clock

    lab_clock = clock()
    result = run_renewals(today=lab_clock.today(), now=lab_clock.now())
    db.session.commit()
    click.echo(f"renewal notices raised: {result.customer} to customers, {result.reseller} to resellers")
