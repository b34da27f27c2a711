"""`flask notify` sends the notification outbox; `flask renewals` raises renewal notices."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from portal import metrics
from portal.extensions import db

log = logging.getLogger("upsconnect.notify")


@click.command("notify")
@click.option("--once", is_flag=True, help="Send what is due now and exit (tests, cron).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1), help="Seconds between looks at the outbox.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Deliveries taken per pass.")
@click.option(
    "--max-attempts", default=5, show_default=True, type=click.IntRange(1, 100),
    help="Attempts before a delivery is given up (marked failed).",
)
@click.option(
    "--backoff", "backoff_s", default=30.0, show_default=True, type=click.FloatRange(0.0),
    help="First retry delay in seconds; doubles each time (at most an hour), give or take a quarter.",
)
@click.option(
    "--lease", "lease_s", default=120.0, show_default=True, type=click.FloatRange(1.0),
    help="Seconds a delivery stays taken while being sent; one a dead worker held is sent again after this.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics port listens on.")
@with_appcontext
def notify_command(
    once: bool, interval: float, batch: int, max_attempts: int, backoff_s: float, lease_s: float,
    metrics_port: int | None, metrics_host: str,
) -> None:  # fmt: skip
    """Deliver pending notifications (email, Slack, Teams, webhooks), retrying with exponential backoff."""
    from portal.services.clock import clock
    from portal.services.outbox.queue import DeliveryStats, WorkerStopping, deliver_due

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    totals = DeliveryStats()
    state = {"stopping": False, "sending": False}

    def stop(signum, _frame) -> None:
        state["stopping"] = True
        if state["sending"]:  # a send can block for its whole timeout: stop now, the row is taken again
            raise WorkerStopping(signal.Signals(signum).name)

    @contextmanager
    def interruptible() -> Iterator[None]:
        """Only a send may be interrupted: never a database call (its locks would stay taken)."""
        state["sending"] = True
        try:
            yield
        finally:
            state["sending"] = False

    if metrics_port is not None:
        def outbox_now():
            with app.app_context():  # the metrics server's own thread
                try:
                    return metrics.outbox_metrics()
                finally:
                    db.session.remove()

        def counts():
            return metrics.notify_metrics(totals.sent, totals.retried, totals.failed, totals.redelivered)

        try:
            metrics.serve_worker_metrics(metrics_host, metrics_port, counts, outbox_now)
        except OSError as error:
            raise click.ClickException(f"cannot serve metrics on {metrics_host}:{metrics_port}: {error}") from None
        log.info("metrics at http://%s:%d/metrics", metrics_host, metrics_port)

    if not once:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("delivering the outbox every %.1f s (up to %d attempts, lease %.0f s)", interval, max_attempts, lease_s)
    stats = None
    while not state["stopping"]:
        try:
            stats = deliver_due(
                clock().now(), limit=batch, max_attempts=max_attempts, backoff_base_s=backoff_s,
                lease=timedelta(seconds=lease_s), stopping=lambda: state["stopping"], around_send=interruptible,
            )  # fmt: skip
        except WorkerStopping:
            log.info("stopped mid-delivery; the delivery is due again for the next worker")
            return
        except Exception:  # the database may be locked or down: keep the worker alive
            db.session.rollback()
            log.exception("notify pass failed; trying again in %.1f s", interval)
            stats = None
        if stats:
            for name in ("sent", "retried", "failed", "redelivered"):
                setattr(totals, name, getattr(totals, name) + getattr(stats, name))
        if once:
            if stats:
                click.echo(f"sent {stats.sent}, retrying {stats.retried}, failed {stats.failed}")
            return
        if stats and stats.sent + stats.retried + stats.failed >= batch:
            continue  # more may be due
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not state["stopping"]:
            time.sleep(0.1)
    log.info("stopped")


@click.command("renewals")
@with_appcontext
def renewals_command() -> None:
    """Roll each device's stored plan over to today, raise renewal and Renewal Support notices that are due; safe to run any number of times."""
    from portal.services.alerts.renewal_notices import run_renewals
    from portal.services.clock import clock
    from portal.services.licensing.stored_standing import roll_over

    lab_clock = clock()
    rolled = roll_over(lab_clock.today())
    result = run_renewals(today=lab_clock.today(), now=lab_clock.now())
    db.session.commit()
    click.echo(f"renewal notices raised: {result.customer} to customers, {result.reseller} to resellers")
    click.echo(f"stored plans rolled over to today: {rolled} device(s)")
