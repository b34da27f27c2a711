"""Prometheus metrics of every portal process (prometheus-client).

- The web app serves ``/metrics``: its own requests, and the outbox backlog read from the database
  (so a dead ``flask notify`` still shows as a growing backlog).
- ``flask ingest --metrics-port N`` and ``flask notify --metrics-port N`` serve their own counters on
  a port of their own (each worker is a separate process with its own memory).

Names and what to alert on: docs/operations.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.services.clock import clock
from portal.services.outbox.queue import backlog

PREFIX = "upsconnect"
disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them

# ---------------------------------------------------------------- the web app

WEB_REGISTRY = CollectorRegistry()  # one per process: apps made again (tests) share its series
HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests answered by the web app, by endpoint and status.",
    ("method", "endpoint", "status"),
    registry=WEB_REGISTRY,
)
HTTP_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint.",
    ("endpoint",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=WEB_REGISTRY,
)


def instrument(app: Flask) -> None:
    """Count and time every request by its endpoint (never the raw path: ids would explode the series)."""

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        endpoint = request.endpoint or "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        return response


def may_read_metrics(remote_addr: str | None, headers: Mapping[str, str], token: str | None) -> bool:
    """With a token set, only a request bearing it; without, only this machine, and not through a proxy."""
    if token:
        given = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    if "X-Forwarded-For" in headers or "Forwarded" in headers:
        return False  # relayed by a proxy on this machine: the asker is somewhere else
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def outbox_metrics() -> list[Metric]:
    """The outbox backlog as gauges, read from the database now (in an app context); the same names
    whether the web app or `flask notify` serves them. A database that does not answer gives
    ``upsconnect_database_up 0`` and no backlog, never an error."""
    try:
        queued = backlog(clock().now())
    except SQLAlchemyError:
        db.session.rollback()
        return [GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered this scrape.", value=0)]
    finally:
        db.session.rollback()  # end the read: a scrape holds no transaction
    return [
        GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered this scrape.", value=1),
        GaugeMetricFamily(f"{PREFIX}_notify_pending", "Deliveries waiting to be sent (due or retrying).", value=queued.pending),
        GaugeMetricFamily(
            f"{PREFIX}_notify_oldest_pending_age_seconds",
            "Age of the oldest delivery still pending (0 when none is).",
            value=queued.oldest_pending_age_s,
        ),
        GaugeMetricFamily(f"{PREFIX}_notify_given_up", "Deliveries given up after their last attempt.", value=queued.failed),
    ]  # fmt: skip


class _Snapshot(Collector):
    """A collector whose metrics are computed when scraped."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        return list(self._read())


def exposition(*reads: Callable[[], Iterable[Metric]], include_web: bool = False) -> bytes:
    """The text format of the metrics these functions compute now (and the web app's, if asked)."""
    registry = CollectorRegistry(auto_describe=False)
    for read in reads:
        registry.register(_Snapshot(read))
    text = generate_latest(registry)
    return generate_latest(WEB_REGISTRY) + text if include_web else text


CONTENT_TYPE = CONTENT_TYPE_LATEST

# ---------------------------------------------------------------- the workers


def serve_worker_metrics(
    host: str, port: int, *reads: Callable[[], Iterable[Metric]]
) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` for a worker on host:port from a daemon thread; OSError if the port is taken."""
    registry = CollectorRegistry(auto_describe=False)
    for read in reads:
        registry.register(_Snapshot(read))
    return start_http_server(port, addr=host, registry=registry)


def ingest_metrics(
    counters: Mapping[str, int], queued: int, lag_s: float, *, rejected: Mapping[str, int]
) -> list[Metric]:
    """The ingest worker's stats object as metrics: received and stored by kind, rejected by reason, lag.

    ``rejected`` is the worker's count of refused messages by reason (the reasons of its stats line);
    messages the database refused are reason ``cannot_store``.
    """
    received = CounterMetricFamily(f"{PREFIX}_ingest_received", "Messages received from the broker, by channel.", labels=("channel",))
    for key, value in counters.items():
        if key.startswith("received."):
            received.add_metric([key.removeprefix("received.")], value)
    stored = CounterMetricFamily(f"{PREFIX}_ingest_stored", "Messages stored, by kind.", labels=("kind",))
    for kind in ("telemetry", "event"):
        stored.add_metric([kind], counters.get(f"stored.{kind}", 0))
    refused = CounterMetricFamily(f"{PREFIX}_ingest_rejected", "Messages not stored, by reason.", labels=("reason",))
    for reason, value in {**rejected, "cannot_store": counters.get("failed", 0)}.items():
        refused.add_metric([reason], value)
    return [
        received,
        stored,
        refused,
        CounterMetricFamily(f"{PREFIX}_ingest_duplicates", "Messages received again and stored once.", value=counters.get("duplicates", 0)),
        GaugeMetricFamily(f"{PREFIX}_ingest_queued", "Messages received and not yet written.", value=queued),
        GaugeMetricFamily(
            f"{PREFIX}_ingest_lag_seconds",
            "For the last batch written: seconds from receiving its oldest message to its commit.",
            value=lag_s,
        ),
    ]  # fmt: skip


def notify_metrics(sent: int, retried: int, failed: int, redelivered: int) -> list[Metric]:
    """This `flask notify` process's delivery counts since it started."""
    attempts = CounterMetricFamily(
        f"{PREFIX}_notify_attempts", "Delivery attempts by outcome since the worker started.", labels=("outcome",)
    )
    for outcome, value in (("sent", sent), ("retrying", retried), ("given_up", failed)):
        attempts.add_metric([outcome], value)
    return [
        attempts,
        CounterMetricFamily(
            f"{PREFIX}_notify_redeliveries", "Deliveries taken again after a worker died holding them.", value=redelivered
        ),
    ]
