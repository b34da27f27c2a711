"""The MQTT topic contract between a UPS device and the portal: topics, payload builders, validators.

Every validator returns ``None`` for a good payload and a readable error string otherwise; ``decode``
never raises, whatever bytes arrive on the wire.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1
TOPIC_ROOT = "ups"
MAX_PAYLOAD_BYTES = 64 * 1024

SERIAL_RE = re.compile(r"^[A-Z0-9]{6,20}$")
NUT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
EVENT_CODE_RE = re.compile(r"^(0x[0-9A-F]{4}|[a-z][a-z0-9_.-]{0,39}|)$")  # "" when APC has no code
MAC_RE = re.compile(r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$")
FIRMWARE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,39}$")
MAX_TS_S = 2**40  # far beyond any fast-forwarded lab clock, still rejects garbage


class Channel(StrEnum):
    """The last part(s) of a device topic."""

    HELLO = "hello"
    STATE = "state"
    TELEMETRY = "telemetry"
    EVENT = "event"
    CMD = "cmd"
    CMD_RESULT = "cmd/result"


DEVICE_TO_PORTAL = (Channel.HELLO, Channel.STATE, Channel.TELEMETRY, Channel.EVENT, Channel.CMD_RESULT)

STATE_ONLINE = "online"
STATE_LOST = "lost"
STATES = frozenset({STATE_ONLINE, STATE_LOST})

SEVERITIES = frozenset({"critical", "warning", "informational"})
BATTERY_TYPES = frozenset({"lead-acid", "li-ion"})
SENSITIVITIES = frozenset({"normal", "reduced", "low"})
OUTLET_ACTIONS = ("off", "on", "cycle")


class CommandType(StrEnum):
    """Commands the portal may send on ``ups/<serial>/cmd``."""

    FIRMWARE_UPGRADE = "firmware.upgrade"
    INPUT_SENSITIVITY = "input.sensitivity"
    TEST_BATTERY_START = "test.battery.start"
    CALIBRATE_START = "calibrate.start"
    OUTLET_GROUP_OFF = "outlet.group.off"
    OUTLET_GROUP_ON = "outlet.group.on"
    OUTLET_GROUP_CYCLE = "outlet.group.cycle"


class ResultStatus(StrEnum):
    """Statuses a device reports on ``ups/<serial>/cmd/result``."""

    ACCEPTED = "accepted"
    PROGRESS = "progress"
    DONE = "done"
    FAILED = "failed"


# ---------------------------------------------------------------- topics


def is_valid_serial(serial: object) -> bool:
    """True for an APC-style serial: 6-20 uppercase letters and digits."""
    return isinstance(serial, str) and SERIAL_RE.fullmatch(serial) is not None


def topic(serial: str, channel: Channel | str) -> str:
    """The topic of one channel of one device, e.g. ``ups/AS2311123456/telemetry``."""
    if not is_valid_serial(serial):
        raise ValueError(f"invalid serial {serial!r}: expected 6-20 uppercase letters and digits")
    return f"{TOPIC_ROOT}/{serial}/{Channel(channel)}"


def subscription(channel: Channel | str | None = None, serial: str | None = None) -> str:
    """A subscription filter: one channel of every device (``ups/+/event``) or a whole subtree."""
    who = "+" if serial is None else serial
    if serial is not None and not is_valid_serial(serial):
        raise ValueError(f"invalid serial {serial!r}")
    if channel is None:
        return f"{TOPIC_ROOT}/{who}/#"
    return f"{TOPIC_ROOT}/{who}/{Channel(channel)}"


def parse_topic(name: str) -> tuple[str, Channel] | None:
    """``(serial, channel)`` for a contract topic, ``None`` for anything else."""
    if not isinstance(name, str):
        return None
    parts = name.split("/", 2)
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or not is_valid_serial(parts[1]):
        return None
    try:
        return parts[1], Channel(parts[2])
    except ValueError:
        return None


# ---------------------------------------------------------------- builders


def encode(payload: dict[str, Any] | str) -> bytes:
    """Wire bytes: compact JSON for objects, the plain string for ``state``."""
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def hello_payload(
    *,
    model: str,
    sku: str,
    serial: str,
    firmware: str,
    battery_type: str,
    outlet_groups: list[str] | tuple[str, ...],
    mac: str,
) -> dict[str, Any]:
    """The retained hello a device publishes when it connects."""
    return {
        "schema": SCHEMA_VERSION,
        "model": model,
        "sku": sku,
        "serial": serial,
        "firmware": firmware,
        "battery_type": battery_type,
        "outlet_groups": list(outlet_groups),
        "mac": mac,
    }


def telemetry_payload(*, ts: float, seq: int, variables: dict[str, Any]) -> dict[str, Any]:
    """One telemetry sample of NUT variables."""
    return {"schema": SCHEMA_VERSION, "ts": ts, "seq": seq, "vars": dict(variables)}


def event_payload(*, ts: float, seq: int, code: str, severity: str, text: str) -> dict[str, Any]:
    """One entry of the device's event log."""
    return {"schema": SCHEMA_VERSION, "ts": ts, "seq": seq, "code": code, "severity": severity, "text": text}


def command_payload(
    command_type: CommandType | str,
    args: dict[str, Any] | None = None,
    *,
    issued_at: float,
    command_id: str | None = None,
) -> dict[str, Any]:
    """A command from the portal; ``command_id`` defaults to a fresh UUID."""
    return {
        "schema": SCHEMA_VERSION,
        "id": command_id or str(uuid.uuid4()),
        "type": str(CommandType(command_type)),
        "args": dict(args or {}),
        "issued_at": issued_at,
    }


def result_payload(
    command_id: str,
    status: ResultStatus | str,
    *,
    ts: float,
    message: str = "",
    progress_percent: float | None = None,
) -> dict[str, Any]:
    """A device's answer to a command: accepted, progress, done or failed."""
    return {
        "schema": SCHEMA_VERSION,
        "id": command_id,
        "status": str(ResultStatus(status)),
        "progress_percent": progress_percent,
        "message": message,
        "ts": ts,
    }


# ---------------------------------------------------------------- validators


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_keys(
    obj: dict[str, Any], required: set[str], optional: frozenset[str] = frozenset()
) -> str | None:
    missing = sorted(required - obj.keys())
    if missing:
        return f"missing key(s): {', '.join(missing)}"
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        return f"unknown key(s): {', '.join(unknown)}"
    if not _is_int(obj["schema"]) or obj["schema"] != SCHEMA_VERSION:
        return f"schema must be {SCHEMA_VERSION}, got {obj['schema']!r}"
    return None


def _check_ts(obj: dict[str, Any], key: str = "ts") -> str | None:
    value = obj[key]
    if not _is_number(value) or not 0 <= value < MAX_TS_S:
        return f"{key} must be a unix time in seconds, got {value!r}"
    return None


def _check_seq(obj: dict[str, Any]) -> str | None:
    if not _is_int(obj["seq"]) or not 0 <= obj["seq"] < 2**63:
        return f"seq must be a non-negative integer, got {obj['seq']!r}"
    return None


def _check_text(value: object, name: str, max_len: int, *, allow_empty: bool = True) -> str | None:
    if not isinstance(value, str) or len(value) > max_len or (not allow_empty and not value):
        return f"{name} must be a string of at most {max_len} characters"
    return None


def validate_hello(obj: Any) -> str | None:
    """Check a hello payload."""
    if not isinstance(obj, dict):
        return "hello must be a JSON object"
    keys = {"schema", "model", "sku", "serial", "firmware", "battery_type", "outlet_groups", "mac"}
    if err := _check_keys(obj, keys):
        return err
    for name in ("model", "sku"):
        if err := _check_text(obj[name], name, 40, allow_empty=False):
            return err
    if not is_valid_serial(obj["serial"]):
        return f"serial must be 6-20 uppercase letters and digits, got {obj['serial']!r}"
    if not isinstance(obj["firmware"], str) or not FIRMWARE_RE.fullmatch(obj["firmware"]):
        return f"firmware must be a version string, got {obj['firmware']!r}"
    if obj["battery_type"] not in BATTERY_TYPES:
        return f"battery_type must be one of {sorted(BATTERY_TYPES)}, got {obj['battery_type']!r}"
    groups = obj["outlet_groups"]
    if (
        not isinstance(groups, list)
        or not 1 <= len(groups) <= 8
        or any(_check_text(g, "outlet group", 40, allow_empty=False) for g in groups)
    ):
        return "outlet_groups must be a list of 1-8 group names"
    if not isinstance(obj["mac"], str) or not MAC_RE.fullmatch(obj["mac"]):
        return f"mac must look like 00:C0:B7:12:34:56, got {obj['mac']!r}"
    return None


def validate_state(obj: Any) -> str | None:
    """Check a state payload: the plain string ``online`` or ``lost``."""
    if not isinstance(obj, str) or obj not in STATES:
        return f"state must be 'online' or 'lost', got {obj!r}"
    return None


def _valid_nut_value(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return len(value) <= 256
    return _is_number(value)


def validate_telemetry(obj: Any) -> str | None:
    """Check a telemetry payload: NUT variable names mapped to scalars."""
    if not isinstance(obj, dict):
        return "telemetry must be a JSON object"
    if err := _check_keys(obj, {"schema", "ts", "seq", "vars"}):
        return err
    if err := _check_ts(obj) or _check_seq(obj):
        return err
    variables = obj["vars"]
    if not isinstance(variables, dict) or len(variables) > 256:
        return "vars must be an object of at most 256 NUT variables"
    for name, value in variables.items():
        if not NUT_NAME_RE.fullmatch(name) or len(name) > 64:
            return f"vars has an invalid NUT variable name {name!r}"
        if not _valid_nut_value(value):
            return f"vars[{name!r}] must be a number, string, boolean or null"
    return None


def validate_event(obj: Any) -> str | None:
    """Check an event payload."""
    if not isinstance(obj, dict):
        return "event must be a JSON object"
    if err := _check_keys(obj, {"schema", "ts", "seq", "code", "severity", "text"}):
        return err
    if err := _check_ts(obj) or _check_seq(obj):
        return err
    if not isinstance(obj["code"], str) or not EVENT_CODE_RE.fullmatch(obj["code"]):
        return f"code must look like 0x0109 (or be empty), got {obj['code']!r}"
    if obj["severity"] not in SEVERITIES:
        return f"severity must be one of {sorted(SEVERITIES)}, got {obj['severity']!r}"
    return _check_text(obj["text"], "text", 500, allow_empty=False)


def _validate_uuid(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return f"id must be a UUID string, got {value!r}"
    try:
        uuid.UUID(value)
    except ValueError:
        return f"id must be a UUID, got {value!r}"
    return None


def validate_command_args(command_type: str, args: Any) -> str | None:
    """Check the ``args`` of one command type."""
    if not isinstance(args, dict):
        return "args must be a JSON object"
    allowed: dict[str, frozenset[str]] = {
        CommandType.FIRMWARE_UPGRADE: frozenset({"version"}),
        CommandType.INPUT_SENSITIVITY: frozenset({"sensitivity"}),
        CommandType.TEST_BATTERY_START: frozenset(),
        CommandType.CALIBRATE_START: frozenset(),
        CommandType.OUTLET_GROUP_OFF: frozenset({"group", "delay_s"}),
        CommandType.OUTLET_GROUP_ON: frozenset({"group", "delay_s"}),
        CommandType.OUTLET_GROUP_CYCLE: frozenset({"group", "delay_s"}),
    }
    unknown = sorted(args.keys() - allowed[CommandType(command_type)])
    if unknown:
        return f"unknown argument(s) for {command_type}: {', '.join(unknown)}"
    if command_type == CommandType.FIRMWARE_UPGRADE and "version" in args:
        version = args["version"]
        if not isinstance(version, str) or not FIRMWARE_RE.fullmatch(version):
            return f"args.version must be a version string, got {version!r}"
    if command_type == CommandType.INPUT_SENSITIVITY and args.get("sensitivity") not in SENSITIVITIES:
        return f"args.sensitivity must be one of {sorted(SENSITIVITIES)}, got {args.get('sensitivity')!r}"
    if command_type.startswith("outlet.group."):
        if "group" not in args:
            return f"{command_type} needs args.group (an outlet group name)"
        if err := _check_text(args["group"], "args.group", 40, allow_empty=False):
            return err
        delay = args.get("delay_s", 0)
        if not _is_number(delay) or not 0 <= delay <= 3600:
            return f"args.delay_s must be 0-3600 seconds, got {delay!r}"
    return None


def validate_command(obj: Any) -> str | None:
    """Check a command payload, including its arguments."""
    if not isinstance(obj, dict):
        return "command must be a JSON object"
    if err := _check_keys(obj, {"schema", "id", "type", "args", "issued_at"}):
        return err
    if err := _validate_uuid(obj["id"]):
        return err
    if obj["type"] not in set(CommandType):
        return f"unknown command type {obj['type']!r}; expected one of {sorted(CommandType)}"
    if err := _check_ts(obj, "issued_at"):
        return err
    return validate_command_args(obj["type"], obj["args"])


def validate_result(obj: Any) -> str | None:
    """Check a command result payload."""
    if not isinstance(obj, dict):
        return "result must be a JSON object"
    if err := _check_keys(obj, {"schema", "id", "status", "ts"}, frozenset({"progress_percent", "message"})):
        return err
    if not isinstance(obj["id"], str) or not 1 <= len(obj["id"]) <= 64:
        return f"id must be the command's id, got {obj['id']!r}"
    if obj["status"] not in set(ResultStatus):
        return f"status must be one of {sorted(ResultStatus)}, got {obj['status']!r}"
    progress = obj.get("progress_percent")
    if progress is not None and (not _is_number(progress) or not 0 <= progress <= 100):
        return f"progress_percent must be 0-100 or null, got {progress!r}"
    if obj["status"] == ResultStatus.PROGRESS and progress is None:
        return "a progress result needs progress_percent"
    if err := _check_text(obj.get("message", ""), "message", 500):
        return err
    return _check_ts(obj)


# ---------------------------------------------------------------- physically possible values

DAY_S = 86_400
# NUT variables with a physical meaning and the values a real UPS can report (inclusive). A sample with
# a number outside its band is refused whole: one impossible value means none of its values is trusted.
# Real hardware reports battery.runtime 65535 ("more than the counter holds") and outlet delays of -1;
# both are inside (delays are not checked). Voltages cover 3-phase and large DC battery strings.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "battery.charge": (0.0, 100.0),
    "battery.charge.low": (0.0, 100.0),
    "battery.charge.warning": (0.0, 100.0),
    "ups.load": (0.0, 150.0),
    "battery.runtime": (0.0, 7 * DAY_S),
    "battery.runtime.low": (0.0, 7 * DAY_S),
    "input.voltage": (0.0, 600.0),
    "output.voltage": (0.0, 600.0),
    "battery.voltage": (0.0, 1000.0),
    "input.frequency": (0.0, 100.0),
    "output.frequency": (0.0, 100.0),
    "ups.temperature": (-40.0, 100.0),
    "battery.temperature": (-40.0, 100.0),
    "ambient.temperature": (-60.0, 100.0),
}
# How far a device's own timestamp may be from the moment its message arrives (the portal's clock).
DEFAULT_MAX_PAST_S = 30 * DAY_S  # a device that buffered through a long outage; older is not "now" data
DEFAULT_MAX_FUTURE_S = DAY_S  # a device clock set wrongly by more than a day is not believed


class Rejection(StrEnum):
    """Why the portal refused a message: the reasons of the ingest stats line and metrics."""

    MALFORMED = "malformed"  # not the contract's shape (bad JSON, missing keys, wrong types)
    OUT_OF_RANGE = "out_of_range"  # a physically impossible value
    CLOCK_SKEW = "clock_skew"  # a timestamp too far from when the message arrived


def _as_number(value: object) -> float | None:
    if _is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def check_physical(variables: dict[str, Any]) -> str | None:
    """The first physically impossible value among NUT variables, as a message; None when all are possible."""
    for name, (low, high) in PHYSICAL_RANGES.items():
        if name not in variables:
            continue
        number = _as_number(variables[name])
        if number is not None and not low <= number <= high:
            return f"vars[{name!r}] = {variables[name]!r} is outside {low:g}..{high:g}"
    return None


def check_plausible(
    channel: Channel | str,
    payload: Any,
    *,
    arrival_s: float,
    max_past_s: float = DEFAULT_MAX_PAST_S,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
) -> tuple[Rejection, str] | None:
    """After ``decode``: ``(reason, message)`` for a well-formed message the portal must not believe.

    Telemetry values must be physically possible; telemetry and event timestamps (what is stored and
    charted) must lie within ``max_past_s`` before and ``max_future_s`` after ``arrival_s`` (unix seconds
    on the portal's clock). A command result's timestamp is not stored, so a device with a wrong clock can
    still finish its commands.
    """
    channel = Channel(channel)
    if channel not in (Channel.TELEMETRY, Channel.EVENT) or not isinstance(payload, dict):
        return None
    if channel == Channel.TELEMETRY and (err := check_physical(payload["vars"])):
        return Rejection.OUT_OF_RANGE, err
    ts = payload["ts"]
    if ts < arrival_s - max_past_s or ts > arrival_s + max_future_s:
        return (
            Rejection.CLOCK_SKEW,
            f"ts {ts!r} is {ts - arrival_s:+.0f} s from its arrival (allowed -{max_past_s:g}..+{max_future_s:g} s)",
        )
    return None


VALIDATORS = {
    Channel.HELLO: validate_hello,
    Channel.STATE: validate_state,
    Channel.TELEMETRY: validate_telemetry,
    Channel.EVENT: validate_event,
    Channel.CMD: validate_command,
    Channel.CMD_RESULT: validate_result,
}


def validate(channel: Channel | str, obj: Any) -> str | None:
    """Check an already-decoded payload of a channel."""
    try:
        return VALIDATORS[Channel(channel)](obj)
    except ValueError:
        return f"unknown channel {channel!r}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def decode(channel: Channel | str, raw: bytes | bytearray | str) -> tuple[Any, str | None]:
    """``(payload, None)`` for a valid message, ``(None, error)`` for anything else; never raises."""
    try:
        channel = Channel(channel)
    except ValueError:
        return None, f"unknown channel {channel!r}"
    if not isinstance(raw, bytes | bytearray | str):
        return None, f"payload must be bytes, got {type(raw).__name__}"
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None, f"payload is larger than {MAX_PAYLOAD_BYTES} bytes"
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None, "payload is not UTF-8"
    if channel == Channel.STATE:
        err = validate_state(text)
        return (None, err) if err else (text, None)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return None, f"payload is not valid JSON: {exc}"
    err = VALIDATORS[channel](obj)
    return (None, err) if err else (obj, None)
