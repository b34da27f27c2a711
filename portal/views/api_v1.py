"""The JSON API under /api/v1: bearer tokens only (no cookies, no CSRF), problem+json errors, audited calls."""

from __future__ import annotations

import functools
import inspect

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from flask_limiter.util import get_remote_address
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from portal.api import schemas
from portal.api.openapi import OPERATIONS, Operation, declare, document
from portal.api.problems import PROBLEMS, problem
from portal.device_link import publish_command
from portal.extensions import csrf, db, limiter
from portal.rate_limits import setting
from portal.services.accounts import access
from portal.services.api import tokens
from portal.services.api.tokens import Scope
from portal.services.clock import clock, utcnow
from portal.services.errors import DomainError, LicensingError, NotFound
from portal.services.fleet import commands, device_history, device_page, overview
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, why_not
from portal.services.partners import assignment_preview, sharing
from portal.services.reports import my_reports
from portal.views.helpers import json_object_body
from portal.views.reports import csv_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC = {"api.openapi_document", "api.docs"}


def _bearer() -> str | None:
    scheme, _, secret = (request.headers.get("Authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _rate_key() -> str:
    """Calls are counted per token (by its digest, no database read), else per address."""
    secret = _bearer()
    return f"api-token:{tokens.digest(secret)[:32]}" if secret else f"api-address:{get_remote_address()}"


limiter.limit(setting("API_RATE_LIMIT"), key_func=_rate_key)(bp)


@bp.before_request
def authenticate():
    g.api_token = None
    if request.endpoint in PUBLIC:
        return None
    secret = _bearer()
    token = tokens.token_for_secret(secret) if secret else None
    if token is None:
        detail = "Send a personal access token: Authorization: Bearer upc_..." if not secret else (
            "This token is unknown or was revoked."
        )
        return problem("unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="upsconnect"'})
    g.api_token, g.api_user = token, token.user
    return None


@bp.after_request
def audit(response: Response) -> Response:
    """Every call made with a valid token leaves one row in api_calls, whatever its answer."""
    token = g.get("api_token")
    response.headers["Cache-Control"] = "no-store"
    if token is not None:
        try:
            tokens.record_call(token.id, request.method, request.full_path.rstrip("?"), response.status_code, now=utcnow())
        except SQLAlchemyError:
            current_app.logger.exception("could not audit an API call")
    return response


def operation(rule: str, method: str = "GET", *, scope: Scope, response=None, status: int = 200, query=None,
              body=None, problems: tuple[str, ...] = (), csv: bool = False, limit: str | None = None):
    """Route a view under /api/v1 and declare it in the OpenAPI document, with its scope and schemas."""

    def decorate(view):
        doc = inspect.getdoc(view) or ""
        summary, _, description = doc.partition("\n")
        declare(Operation(
            endpoint=f"api.{view.__name__}", rule=rule, method=method, summary=summary.strip(),
            description=description.strip(), scope=scope.value, response=response, status=status, query=query,
            body=body, problems=problems, csv=csv,
        ))

        @functools.wraps(view)
        def run(**kwargs):
            token = g.api_token
            if scope.value not in token.scopes:
                return problem(
                    "insufficient-scope",
                    f"This operation needs a token with the '{scope.value}' scope; this token has: {', '.join(token.scopes)}.",
                )
            try:
                if query is not None:
                    kwargs["query"] = query().load(_single_values())
                elif request.args:
                    raise ValidationError({name: ["Unknown parameter."] for name in request.args})
                if body is not None:
                    if not request.is_json:
                        return problem("unsupported-media-type", "Send the body as JSON (Content-Type: application/json).")
                    data = json_object_body()
                    if data is None:
                        return problem("invalid-request", "The body must be a JSON object.")
                    kwargs["body"] = body().load(data)
            except ValidationError as error:
                messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
                return problem("invalid-request", "Some parameters are not valid; see errors.", errors=messages)
            try:
                result = view(**kwargs)
            except NotFound as error:
                db.session.rollback()
                return problem("not-found", error.message)
            if isinstance(result, Response):
                return result
            return jsonify(response().dump(result)), status

        if limit:  # a tighter limit of its own (code guessing), counted per token like the blueprint's
            run = limiter.limit(setting(limit), key_func=_rate_key)(run)
        # A bearer token authenticates every operation and a browser's cookie grants nothing here: no CSRF token.
        csrf.exempt(run)
        bp.add_url_rule(rule, view.__name__, run, methods=[method])
        return run

    return decorate


def _single_values() -> dict[str, str]:
    """Query arguments; one given twice is refused rather than silently taking either."""
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise ValidationError({name: ["Give this parameter once."] for name in repeated})
    return request.args.to_dict()


def _device(device_id: int):
    """The device if the token's user may act on it: the same accessor the device page uses."""
    return access.device_for(g.api_user, device_id)


def _page_view(device):
    return device_page.build(
        g.api_user, device, today=clock().today(), now=utcnow(), stale_after_s=current_app.config["STALE_AFTER_S"]
    )


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API, generated from the code."""
    return jsonify(document())


@bp.get("/docs")
def docs():
    """The browsable API reference: operations, scopes, error types."""
    return render_template(
        "api/docs.html", spec=document(), operations=OPERATIONS, problems=PROBLEMS.values(), scopes=list(Scope),
        document_url=url_for("api.openapi_document"),
    )


@operation("/devices", scope=Scope.READ, response=schemas.DeviceList, query=schemas.DeviceListQuery)
def list_devices(query: dict):
    """List the devices the token's user may see (owned and shared), filtered, sorted and paginated.

    25 devices a page. Readings (load, charge, runtime) are null where the device's plan shows only the mode.
    """
    result = overview.overview(
        g.api_user, overview.Filters.parse(query), today=clock().today(), now=utcnow(),
        stale_after_s=current_app.config["STALE_AFTER_S"],
    )
    return {"items": result.lines, "page": result.page, "pages": result.pages, "per_page": overview.PAGE_SIZE,
            "total": result.total}


@operation("/devices/<id:device_id>", scope=Scope.READ, response=schemas.Device, problems=("not-found",))
def get_device(device_id: int):
    """One device: identity, plan, firmware, battery dates and which remote actions its plan allows."""
    return _page_view(_device(device_id))


@operation("/devices/<id:device_id>/live", scope=Scope.READ, response=schemas.LiveState, problems=("not-found",))
def get_live_state(device_id: int):
    """The device's live state: operating mode, freshness, and its readings where the plan shows them."""
    return _page_view(_device(device_id))


@operation("/devices/<id:device_id>/events", scope=Scope.READ, response=schemas.EventList, query=schemas.EventQuery,
           problems=("not-found",))
def list_events(device_id: int, query: dict):
    """The device's event log: the last 30 days, newest first, optionally one severity."""
    return device_history.event_log(_device(device_id), severity=query.get("severity", ""), fallback_end=clock().now())


@operation("/devices/<id:device_id>/telemetry", scope=Scope.READ, response=schemas.Telemetry,
           query=schemas.TelemetryQuery, problems=("not-found", "not-in-plan"))
def get_telemetry(device_id: int, query: dict):
    """Telemetry history for one range (1h, 24h, 7d, 30d) as columns: unix seconds, then one array per series.

    Needs a plan with health values (Standard or higher), as the device page's charts do.
    """
    device = _device(device_id)
    reason = why_not(entitlements.current_plan(device, clock().today()), Feature.HEALTH_VALUES)
    if reason:
        return problem("not-in-plan", reason)
    return device_history.history(
        device, query.get("range", device_history.DEFAULT_RANGE), fallback_end=clock().now(),
        bucket_seconds=current_app.config["TELEMETRY_BUCKET_S"],
    )


@operation("/devices/<id:device_id>/timeline", scope=Scope.READ, response=schemas.Timeline, problems=("not-found",))
def get_timeline(device_id: int):
    """The device's subscription timeline: current term, queued terms, then Basic."""
    return _page_view(_device(device_id))


@operation("/devices/<id:device_id>/commands", scope=Scope.READ, response=schemas.CommandList, problems=("not-found",))
def list_commands(device_id: int):
    """The device's latest remote commands (20), newest first."""
    return {"items": commands.command_log(_device(device_id))}


@operation("/devices/<id:device_id>/commands", "POST", scope=Scope.COMMANDS, response=schemas.Command, status=202,
           body=schemas.CommandRequest, problems=("not-found", "command-refused"))
def send_command(device_id: int, body: dict):
    """Send a remote command, gated by the same plan rule as the device page; follow it by its id.

    Answers 202 with the command; its status moves from sent to done, failed or timed_out.
    """
    device = _device(device_id)
    try:
        command = commands.issue_command(
            g.api_user, device, body["type"], body["args"], publish=publish_command, today=clock().today(),
            now=clock().now(),
        )
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        return problem("command-refused", error.message)
    db.session.commit()
    response = jsonify(schemas.Command().dump(command))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_command", device_id=device.id, command_id=command.id)
    return response


@operation("/devices/<id:device_id>/commands/<command_id>", scope=Scope.READ, response=schemas.Command,
           problems=("not-found",))
def get_command(device_id: int, command_id: str):
    """One command and what became of it (status, progress, message)."""
    return commands.command_of(_device(device_id), command_id)


def _report(report: str, query: dict):
    """A report as JSON rows or as the same CSV the Reports page downloads."""
    customer_id = query.get("customer")
    my_reports.check_customer(g.api_user, customer_id)
    today = clock().today()
    sheet, columns = my_reports.REPORTS[report]
    rows = my_reports.device_rows(g.api_user, today=today, customer_id=customer_id)
    if query.get("format") == "csv":
        suffix = f"-customer{customer_id}" if customer_id is not None else ""
        return csv_response(columns, rows, my_reports.filename(report, today, "csv", suffix))
    return {
        "report": sheet, "today": today, "columns": columns,
        "items": [{c.key: row[c.key] for c in columns} for row in rows],
    }


@operation("/reports/inventory", scope=Scope.READ, response=schemas.InventoryReport, query=schemas.ReportQuery,
           problems=("not-found",), csv=True)
def get_inventory_report(query: dict):
    """MyInventory: every device the user's reports cover, with load, charge, firmware, plan and renewal dates.

    format=csv answers the same CSV as the Reports page; customer= narrows it to one customer (else 404).
    """
    return _report("inventory", query)


@operation("/reports/renewals", scope=Scope.READ, response=schemas.RenewalsReport, query=schemas.ReportQuery,
           problems=("not-found",), csv=True)
def get_renewals_report(query: dict):
    """MyRenewals: models, serials, expiry dates and replacement SKUs (no operational data).

    format=csv answers the same CSV as the Reports page; customer= narrows it to one customer (else 404).
    """
    return _report("renewals", query)


@operation("/devices/<id:device_id>/shares", scope=Scope.READ, response=schemas.ShareList, problems=("not-found",))
def list_shares(device_id: int):
    """Who the device is shared with (pending and active shares); for its owner's company only, like the Sharing page."""
    device = sharing.device_for_owner(g.api_user, device_id)
    return {"items": sharing.live_shares(device), "max_shares": sharing.MAX_SHARES}


def _refused(error: LicensingError):
    return problem("licensing-refused", error.message, errors={error.field: [error.message]} if error.field else None)


@operation("/activation-codes/verify", "POST", scope=Scope.LICENSING, response=schemas.CodeSummary,
           body=schemas.CodeRequest, problems=("licensing-refused",), limit="CODE_RATE_LIMIT")
def verify_code(body: dict):
    """Verify an activation code: its SKU, plan, term, quantity and how many licenses are left.

    The code travels in the body, so it never appears in a URL or the audit trail. Limited like the Verify page.
    """
    try:
        return entitlements.verify_code(body["code"], today=clock().today())
    except LicensingError as error:
        return _refused(error)


@operation("/activation-codes/preview", "POST", scope=Scope.LICENSING, response=schemas.AssignmentPreview,
           body=schemas.AssignRequest, problems=("not-found", "licensing-refused"), limit="CODE_RATE_LIMIT")
def preview_assignment(body: dict):
    """Preview assigning one license from a code to each device: the terms each would get, nothing written.

    Runs the very checks the assignment runs (the Assign page's preview rule).
    """
    devices = [_device(device_id) for device_id in body["device_ids"]]
    today = clock().today()
    try:
        summary = entitlements.verify_code(body["code"], today=today)
        previews = assignment_preview.preview(g.api_user, summary, devices, today=today)
    except LicensingError as error:
        db.session.rollback()
        return _refused(error)
    return {"code": summary, "devices": previews}


@operation("/activation-codes/assign", "POST", scope=Scope.LICENSING, response=schemas.AssignmentResult, status=201,
           body=schemas.AssignRequest, problems=("not-found", "licensing-refused"), limit="CODE_RATE_LIMIT")
def assign_code(body: dict):
    """Assign one license from a code to each device, all or nothing; the rest of the code stays usable."""
    devices = [_device(device_id) for device_id in body["device_ids"]]
    lab_clock = clock()
    try:
        assigned = entitlements.assign_from_code(
            g.api_user, body["code"], devices, today=lab_clock.today(), now=lab_clock.now()
        )
    except LicensingError as error:
        db.session.rollback()
        return _refused(error)
    db.session.commit()
    summary = entitlements.verify_code(body["code"], today=lab_clock.today())
    return {"code": summary, "assignments": assignment_preview.assigned_terms(assigned)}
