"""NUT bridges: the Bridges page, one-click claims, and the two JSON endpoints the agent calls."""

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from devicelink.brokers import BrokerError, parse_mqtt_url
from devicelink.provisioning import factory_key_from_env
from portal.extensions import csrf, db, limiter
from portal.forms.bridges import ClaimBridgedForm, NewBridgeForm
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.fleet import nut_bridges
from portal.views.helpers import attach_error, id_or_404, json_object_body

bp = Blueprint("bridges", __name__)


def _limit(name: str):
    return lambda: current_app.config[name]


def _render(form: NewBridgeForm, status: int = 200, new: nut_bridges.NewBridge | None = None):
    return render_template(
        "bridges/index.html", form=form, rows=nut_bridges.bridges_page(current_user), new=new,
        claim_form=ClaimBridgedForm(), portal_url=current_app.config["PUBLIC_URL"].rstrip("/"),
        broker_url=_broker_hint(),
    ), status


def _broker_hint() -> str:
    """Where agents reach the broker, for the start command shown; never with the portal's own login."""
    configured = current_app.config.get("BRIDGE_BROKER_URL") or current_app.config.get("MQTT_URL")
    try:
        return parse_mqtt_url(configured).url if configured else "mqtt://BROKER-HOST:1883"
    except BrokerError:
        return "mqtt://BROKER-HOST:1883"


@bp.get("/bridges")
@login_required
def index():
    """The company's NUT bridges, their UPSes to claim, and the form for a new bridge."""
    return _render(NewBridgeForm())


@bp.post("/bridges")
@login_required
def create():
    """Create a bridge and show its one-time enrolment token."""
    form = NewBridgeForm()
    if not form.validate_on_submit():
        return _render(form, 422)
    try:
        new = nut_bridges.create_bridge(current_user, form.name.data or "", form.site.data or "", now=clock().now())
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _render(form, 422)
    db.session.commit()
    return _render(NewBridgeForm(formdata=None), 201, new)


@bp.post("/bridges/<id:bridge_id>/claim")
@login_required
def claim(bridge_id: int):
    """Claim a UPS the company's own bridge reports (no registration code)."""
    form = ClaimBridgedForm()
    if not form.validate_on_submit():
        return _render(NewBridgeForm(), 422)
    try:
        device = nut_bridges.claim_bridged_device(current_user, bridge_id, id_or_404(form.device.data), now=clock().now())
    except NotFound as error:
        db.session.rollback()
        abort(404, error.message)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("bridges.index"))
    db.session.commit()
    flash(f"{device.model} {device.serial} is now registered to {current_user.company.name}.", "success")
    return redirect(url_for("devices.show", device_id=device.id))


def _json_error(message: str, status: int):
    return jsonify({"error": message}), status


@bp.post("/api/bridges/enrol")
@csrf.exempt  # a machine's call with a one-time token, not a browser form
@limiter.limit(_limit("BRIDGE_ENROL_RATE_LIMIT"))
def api_enrol():
    """The agent exchanges its one-time enrolment token for its own secret."""
    body = json_object_body()
    if body is None:
        return _json_error("send a JSON object with the enrolment token", 400)
    try:
        bridge, secret = nut_bridges.enrol(body.get("token"), now=clock().now())
    except DomainError as error:
        db.session.rollback()
        return _json_error(error.message, 403)
    db.session.commit()
    return jsonify({"bridge_id": bridge.public_id, "secret": secret})


@bp.post("/api/bridges/devices")
@csrf.exempt  # authenticated by the bridge's secret, never by a browser session
@limiter.limit(_limit("BRIDGE_REPORT_RATE_LIMIT"))
def api_devices():
    """The agent reports the UPSes it sees and gets each one's MQTT login."""
    scheme, _, secret = (request.headers.get("Authorization") or "").partition(" ")
    bridge = nut_bridges.bridge_for_secret(secret.strip()) if scheme.lower() == "bearer" else None
    if bridge is None:
        return _json_error("this bridge is not enrolled, or its secret is wrong", 401)
    body = json_object_body()
    if body is None:
        return _json_error("send a JSON object with a devices list", 400)
    try:
        credentials, refused = nut_bridges.register_devices(
            bridge, body.get("devices"), factory_key=factory_key_from_env(current_app.config["FACTORY_KEY"]),
            now=clock().now(),
        )
    except DomainError as error:
        db.session.rollback()
        return _json_error(error.message, 400)
    db.session.commit()
    return jsonify({"credentials": credentials, "refused": refused})
