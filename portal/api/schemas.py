"""What the API reads and answers, as marshmallow schemas: they check requests and are the OpenAPI components."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, fields, validate

from devicelink.contract import CommandType
from portal.services.accounts.access import MAX_ID
from portal.services.fleet import device_history, overview
from portal.services.licensing.activation_codes import format_code
from portal.services.licensing.plans import Feature, Plan, plan_allows
from portal.services.reports import my_reports

MAX_PAGE = 100_000


class UtcDateTime(fields.DateTime):
    """The portal stores naive UTC datetimes; the API says so with an explicit offset (RFC 3339)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def _health(plan_key: str) -> bool:
    """The plan table's rule the pages use: operational values need HEALTH_VALUES (Standard or higher)."""
    return plan_allows(Plan.from_key(plan_key), Feature.HEALTH_VALUES)


class Problem(Schema):
    type = fields.String(required=True, metadata={"description": "Stable URI of the kind of error."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), metadata={"description": "Invalid fields and what is wrong with each."})


# --- requests ------------------------------------------------------------------------------------------

class DeviceListQuery(Schema):
    q = fields.String(validate=validate.Length(max=80), metadata={"description": "Text in serial, name, model or site."})
    mode = fields.String(validate=validate.OneOf(sorted(overview.MODES)))
    plan = fields.String(validate=validate.OneOf(overview.PLANS))
    model = fields.String(validate=validate.Length(max=40))
    site = fields.String(validate=validate.Length(max=120))
    sort = fields.String(
        validate=validate.OneOf(sorted(overview.SORTS) + sorted(f"-{s}" for s in overview.SORTS)),
        metadata={"description": "A column; a leading '-' sorts descending."},
    )
    page = fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE), metadata={"description": "1-based page number."})


class EventQuery(Schema):
    severity = fields.String(validate=validate.OneOf(device_history.SEVERITIES))


class TelemetryQuery(Schema):
    range = fields.String(validate=validate.OneOf(list(device_history.RANGES)))


class CommandRequest(Schema):
    type = fields.String(required=True, validate=validate.OneOf([c.value for c in CommandType]))
    args = fields.Dict(
        keys=fields.String(validate=validate.Length(max=40)),
        load_default=dict,
        metadata={"description": "Settings of the command, e.g. {\"sensitivity\": \"low\"} or {\"group\": \"Outlet Group 1\"}."},
    )


# --- answers -------------------------------------------------------------------------------------------

class DeviceLine(Schema):
    id = fields.Integer(required=True)
    serial = fields.String(required=True)
    name = fields.String(required=True)
    model = fields.String(required=True)
    site = fields.String(required=True)
    mode = fields.String(required=True, metadata={"description": "Operating mode key, e.g. on_line, on_battery."})
    mode_label = fields.String(required=True)
    plan = fields.String(required=True, validate=validate.OneOf(overview.PLANS))
    term_end = fields.Date(required=True, allow_none=True)
    load_percent = fields.Method("_load", required=True, allow_none=True, metadata={"type": "number"})
    charge_percent = fields.Method("_charge", required=True, allow_none=True, metadata={"type": "number"})
    runtime_s = fields.Method("_runtime", required=True, allow_none=True, metadata={"type": "number"})
    shared = fields.Boolean(required=True, metadata={"description": "True when another company shared it with yours."})

    # Readings only where the plan shows them, as on the dashboard and device page.
    def _load(self, line):
        return line.load_percent if _health(line.plan) else None

    def _charge(self, line):
        return line.charge_percent if _health(line.plan) else None

    def _runtime(self, line):
        return line.runtime_s if _health(line.plan) else None


class DeviceList(Schema):
    items = fields.List(fields.Nested(DeviceLine), required=True)
    page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class Action(Schema):
    type = fields.String(required=True)
    label = fields.String(required=True)
    allowed = fields.Boolean(required=True)
    reason = fields.String(required=True, allow_none=True)
    needed_plan = fields.Function(lambda a: a.needed_plan.key, required=True, metadata={"type": "string"})
    group = fields.String(required=True)


class Device(Schema):
    id = fields.Integer(required=True, attribute="device.id")
    serial = fields.String(required=True, attribute="device.serial")
    name = fields.String(required=True, attribute="device.name")
    model = fields.String(required=True, attribute="device.model")
    site = fields.String(required=True, attribute="device.site")
    firmware = fields.String(required=True, attribute="device.firmware")
    battery_type = fields.String(required=True, attribute="device.battery_type")
    outlet_groups = fields.List(fields.String(), required=True, attribute="device.outlet_groups")
    is_owner = fields.Boolean(required=True)
    plan = fields.Function(lambda v: v.plan.key, required=True, metadata={"type": "string"})
    term_end = fields.Function(
        lambda v: v.current.end.isoformat() if v.current and v.current.end else None,
        required=True, metadata={"type": ["string", "null"], "format": "date"},
    )
    firmware_update = fields.String(required=True, allow_none=True, metadata={"description": "Newer firmware, if any."})
    battery_installed_on = fields.Date(required=True, allow_none=True)
    battery_replace_by = fields.Date(required=True, allow_none=True)
    warranty_ends_on = fields.Date(required=True, allow_none=True, attribute="device.warranty_ends_on")
    actions = fields.List(fields.Nested(Action), required=True)


class Readings(Schema):
    load_percent = fields.Raw(allow_none=True, metadata={"type": "number"})
    charge_percent = fields.Raw(allow_none=True, metadata={"type": "number"})
    runtime_s = fields.Raw(allow_none=True, metadata={"type": "number"})
    input_voltage_v = fields.Raw(allow_none=True, metadata={"type": "number"})
    output_voltage_v = fields.Raw(allow_none=True, metadata={"type": "number"})
    input_frequency_hz = fields.Raw(allow_none=True, metadata={"type": "number"})
    temperature_c = fields.Raw(allow_none=True, metadata={"type": "number"})


# NUT variable behind each reading (the device link's names and units).
READING_VARIABLES = {
    "load_percent": "ups.load", "charge_percent": "battery.charge", "runtime_s": "battery.runtime",
    "input_voltage_v": "input.voltage", "output_voltage_v": "output.voltage", "input_frequency_hz": "input.frequency",
    "temperature_c": "ups.temperature",
}


def _number(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class LiveState(Schema):
    device_id = fields.Integer(required=True, attribute="device.id")
    freshness = fields.String(required=True, attribute="freshness.state", validate=validate.OneOf(["online", "stale", "offline"]))
    freshness_text = fields.String(required=True, attribute="freshness.text")
    mode = fields.String(required=True, attribute="mode.key")
    mode_label = fields.String(required=True, attribute="mode.label")
    severity = fields.String(required=True, attribute="mode.severity")
    ups_status = fields.Function(lambda v: v.status.ups_status if v.status else "", required=True, metadata={"type": "string"})
    last_seen_at = fields.Method("_last_seen", required=True, allow_none=True, metadata={"type": "string", "format": "date-time"})
    readings = fields.Method(
        "_readings", required=True,
        metadata={"anyOf": [{"$ref": "#/components/schemas/Readings"}, {"type": "null"}],
                  "description": "Operational values; null when the plan shows only the operating mode (Basic)."},
    )

    def _last_seen(self, view):
        seen = view.status.last_seen_at if view.status else None
        return UtcDateTime()._serialize(seen, None, None) if seen else None

    def _readings(self, view):
        if not plan_allows(view.plan, Feature.HEALTH_VALUES):
            return None
        return {name: _number(view.vars.get(variable)) for name, variable in READING_VARIABLES.items()}


class Event(Schema):
    ts = UtcDateTime(required=True)
    seq = fields.Integer(required=True)
    code = fields.String(required=True)
    severity = fields.String(required=True)
    text = fields.String(required=True)


class EventList(Schema):
    since = UtcDateTime(required=True)
    severity = fields.String(required=True, metadata={"description": "The filter applied; empty for all."})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    items = fields.List(fields.Nested(Event), required=True, attribute="events")


class Telemetry(Schema):
    range = fields.String(required=True)
    start = fields.Integer(required=True, metadata={"description": "Unix seconds."})
    end = fields.Integer(required=True)
    resolution = fields.String(required=True, validate=validate.OneOf(["samples", "mixed", "buckets"]))
    bucket_seconds = fields.Integer(required=True, allow_none=True)
    units = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    x = fields.List(fields.Integer(), required=True, metadata={"description": "Unix seconds of each point."})
    load_percent = fields.List(fields.Float(allow_none=True), required=True)
    charge_percent = fields.List(fields.Float(allow_none=True), required=True)
    input_voltage_v = fields.List(fields.Float(allow_none=True), required=True)
    temperature_c = fields.List(fields.Float(allow_none=True), required=True)


class TimelineRow(Schema):
    label = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["trial", "standard", "advanced", "basic"]))
    state = fields.String(required=True, validate=validate.OneOf(["current", "queued", "fallback"]))
    start = fields.Date(required=True)
    end = fields.Date(required=True, allow_none=True, metadata={"description": "null: Basic from then on."})


class Timeline(Schema):
    device_id = fields.Integer(required=True, attribute="device.id")
    plan = fields.Function(lambda v: v.plan.key, required=True, metadata={"type": "string"})
    today = fields.Date(required=True)
    rows = fields.List(fields.Nested(TimelineRow), required=True, attribute="timeline")


class Command(Schema):
    id = fields.String(required=True)
    device_id = fields.Integer(required=True)
    type = fields.String(required=True)
    args = fields.Dict(keys=fields.String(), required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["queued", "sent", "accepted", "progress", "done", "failed", "timed_out"])
    )
    progress_percent = fields.Integer(required=True)
    message = fields.String(required=True)
    issued_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class CommandList(Schema):
    items = fields.List(fields.Nested(Command), required=True)


# --- reports ---------------------------------------------------------------------------------------------

class ReportQuery(Schema):
    customer = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Only this customer's devices (a company id from the report's customer column)."},
    )
    format = fields.String(validate=validate.OneOf(["json", "csv"]), metadata={"description": "json (default) or csv."})


_REPORT_FIELD = {
    "text": lambda: fields.String(required=True, allow_none=True),
    "number": lambda: fields.Float(required=True, allow_none=True),
    "date": lambda: fields.Date(required=True, allow_none=True),
}


class ReportColumn(Schema):
    key = fields.String(required=True)
    header = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(sorted(_REPORT_FIELD)))


def _report_schemas(name: str, columns) -> type[Schema]:
    """The rows' schema built from the report's own column table, so the JSON, CSV and XLSX agree."""
    row = Schema.from_dict({c.key: _REPORT_FIELD[c.kind]() for c in columns}, name=f"{name}Row")
    return Schema.from_dict(
        {
            "report": fields.String(required=True),
            "today": fields.Date(required=True),
            "columns": fields.List(fields.Nested(ReportColumn), required=True),
            "items": fields.List(fields.Nested(row), required=True),
        },
        name=name,
    )


InventoryReport = _report_schemas("InventoryReport", my_reports.INVENTORY_COLUMNS)
RenewalsReport = _report_schemas("RenewalsReport", my_reports.RENEWALS_COLUMNS)


# --- activation codes (licensing scope) ------------------------------------------------------------------

class CodeRequest(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "The activation code, with or without dashes."})


class AssignRequest(CodeRequest):
    device_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=MAX_ID)), required=True, validate=validate.Length(min=1, max=500),
        metadata={"description": "The devices to take one license each from the code."},
    )


class CodeSummary(Schema):
    code = fields.Function(lambda s: format_code(s.code.code), required=True, metadata={"type": "string"})
    sku = fields.String(required=True, attribute="code.sku")
    plan = fields.Function(lambda s: s.product.plan.key, required=True, metadata={"type": "string"})
    months = fields.Integer(required=True, attribute="product.months")
    bonus_months_today = fields.Integer(required=True, metadata={"description": "Promotion months added if assigned today."})
    quantity = fields.Integer(required=True, attribute="code.quantity")
    remaining = fields.Integer(required=True, attribute="code.remaining")
    used = fields.Integer(required=True)


class Term(Schema):
    plan = fields.Function(lambda t: t.plan.key, required=True, metadata={"type": "string"})
    start = fields.Date(required=True)
    end = fields.Date(required=True, metadata={"description": "Exclusive: the first day not covered."})


class DevicePreview(Schema):
    device_id = fields.Integer(required=True, attribute="device.id")
    serial = fields.String(required=True, attribute="device.serial")
    plan_today = fields.Function(lambda p: p.plan_today.key, required=True, metadata={"type": "string"})
    current_end = fields.Date(required=True, allow_none=True)
    new_terms = fields.List(fields.Nested(Term), required=True)
    paid_through_after = fields.Date(required=True, allow_none=True)


class AssignmentPreview(Schema):
    code = fields.Nested(CodeSummary, required=True)
    devices = fields.List(fields.Nested(DevicePreview), required=True)


class Assignment(Schema):
    entitlement_id = fields.Function(lambda r: r[0].id, required=True, metadata={"type": "integer"})
    device_id = fields.Function(lambda r: r[0].device_id, required=True, metadata={"type": "integer"})
    terms = fields.Function(lambda r: Term(many=True).dump(r[1]), required=True,
                            metadata={"type": "array", "items": {"$ref": "#/components/schemas/Term"}})
    paid_through = fields.Function(lambda r: r[2].isoformat() if r[2] else None, required=True,
                                   metadata={"type": ["string", "null"], "format": "date"})


class AssignmentResult(Schema):
    code = fields.Nested(CodeSummary, required=True)
    assignments = fields.List(fields.Nested(Assignment), required=True)


# --- shares ------------------------------------------------------------------------------------------------

class Share(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True, metadata={"description": "Where the confirmation code was sent."})
    status = fields.Function(lambda share: share.status.value, required=True,
                             metadata={"type": "string", "enum": ["pending", "active"]})
    recipient_company = fields.Function(
        lambda share: share.recipient_user.company.name if share.recipient_user else None, required=True,
        metadata={"type": ["string", "null"], "description": "Set once the recipient accepted."},
    )
    created_at = UtcDateTime(required=True)


class ShareList(Schema):
    items = fields.List(fields.Nested(Share), required=True)
    max_shares = fields.Integer(required=True)
