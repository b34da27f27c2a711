"""For the machines that run the portal: a health probe and Prometheus metrics (docs/operations.md)."""

from flask import Blueprint, abort, current_app, jsonify, request

from portal import health, metrics
from portal.extensions import limiter, talisman

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
@limiter.exempt
@talisman(force_https=False)  # probes ask over plain HTTP from the machine or the load balancer
def healthz():
    """Whether the database and the broker answer: 200 or 503 with a JSON body, no sign-in, no secrets."""
    state = health.check()
    return jsonify(state.as_json()), 200 if state.healthy else 503


@bp.get("/metrics")
@limiter.exempt
@talisman(force_https=False)
def prometheus_metrics():
    """Prometheus metrics of the web app and the outbox backlog, for this machine or a bearer of the token."""
    if not metrics.may_read_metrics(request.remote_addr, request.headers, current_app.config.get("METRICS_TOKEN")):
        abort(404)  # the endpoint does not advertise itself to the world
    body = metrics.exposition(metrics.outbox_metrics, include_web=True)
    return body, 200, {"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"}
