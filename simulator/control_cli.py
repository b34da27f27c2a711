"""``python -m simulator control ...``: the lab console's actions from a terminal, through a running fleet's
control API (docs/device-lab.md). Each prints the API's JSON answer; a refusal is one line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from simulator.scenarios import EVENT_KINDS, ScenarioError, parse_duration

URL_ENV = "UPSCONNECT_LAB_CONTROL_URL"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `control` subcommand; it runs through `args.run(args)`."""
    parser = subparsers.add_parser(
        "control", help="act on a running fleet through its control API", allow_abbrev=False
    )
    parser.add_argument("--url", default=os.environ.get(URL_ENV), help=f"the control API (default: ${URL_ENV})")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    actions.add_parser("devices", help="every device: serial, model, display, connected")
    actions.add_parser("stats", help="fleet counters, simulated time and speed")
    actions.add_parser("runs", help="scenario runs with their state and progress")
    add = actions.add_parser("add", help="add devices (their claim codes are printed)")
    add.add_argument("--count", type=int, required=True)
    add.add_argument("--seed", type=int, required=True)
    add.add_argument("--model", default=None)
    remove = actions.add_parser("remove", help="take devices out of the lab")
    remove.add_argument("serials", nargs="+")
    start = actions.add_parser("run", help="a shipped scenario or one event on some devices (default: all)")
    what = start.add_mutually_exclusive_group(required=True)
    what.add_argument("--scenario", help="a file name from simulator/scenarios/")
    what.add_argument("--kind", choices=EVENT_KINDS)
    start.add_argument("--duration", help="how long, e.g. 90s, 10m, 2h (default: until restored)")
    start.add_argument("--severity", type=float)
    start.add_argument("--years", type=float, help="for ageing")
    start.add_argument("--temp-c", type=float, help="for heat_wave")
    start.add_argument("--serials", help="comma-separated serials (default: the whole fleet)")
    stop = actions.add_parser("stop", help="stop a run")
    stop.add_argument("run_id", type=int)
    speed = actions.add_parser("speed", help="simulated seconds per real second")
    speed.add_argument("speed", type=float)
    advance = actions.add_parser("advance", help="jump the fleet's simulated time forward, e.g. 3600, 2h, 30d")
    advance.add_argument("by")
    press = actions.add_parser("press", help="press an LCD action: test.battery.start, calibrate.start, ...")
    press.add_argument("serial")
    press.add_argument("lcd_action")
    published = actions.add_parser("published", help="a device's last telemetry and recent events")
    published.add_argument("serial")
    parser.set_defaults(run=run)
    return parser


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """(method, path, body) for the parsed action."""
    match args.action:
        case "devices" | "stats" | "runs":
            return "GET", f"/{args.action}", None
        case "add":
            return "POST", "/devices", {"count": args.count, "seed": args.seed, "model": args.model}
        case "run":
            body: dict[str, Any] = {"scenario": args.scenario} if args.scenario else {"kind": args.kind}
            for key, value in (("severity", args.severity), ("years", args.years), ("temp_c", args.temp_c)):
                if value is not None:
                    body[key] = value
            if args.duration:
                body["duration_s"] = parse_duration(args.duration, "--duration")
            if args.serials:
                body["serials"] = [s.strip() for s in args.serials.split(",") if s.strip()]
            return "POST", "/runs", body
        case "stop":
            return "POST", f"/runs/{args.run_id}/stop", None
        case "speed":
            return "POST", "/speed", {"speed": args.speed}
        case "advance":
            return "POST", "/advance", {"seconds": parse_duration(args.by, "advance")}
        case "press":
            return "POST", f"/devices/{args.serial}/lcd", {"action": args.lcd_action}
        case "published":
            return "GET", f"/devices/{args.serial}/published", None
    raise ScenarioError(f"unknown action {args.action!r}")


def _call(url: str, method: str, path: str, body: dict[str, Any] | None) -> Any:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run(args: argparse.Namespace) -> int:
    """Call the control API and print its answer; 1 when the fleet refuses or is away, 2 on bad input."""
    if not args.url:
        print(f"control: error: give --url or set {URL_ENV}", file=sys.stderr)
        return 2
    if args.action == "remove":
        removed: list[Any] = []
        for serial in args.serials:
            code = _print_call(args.url, "POST", f"/devices/{serial}/remove", None, removed)
            if code:
                return code
        print(json.dumps(removed, indent=1))
        return 0
    try:
        method, path, body = _request(args)
    except ScenarioError as error:
        print(f"control: error: {error}", file=sys.stderr)
        return 2
    answers: list[Any] = []
    code = _print_call(args.url, method, path, body, answers)
    if not code:
        print(json.dumps(answers[0], indent=1))
    return code


def _print_call(url: str, method: str, path: str, body: dict[str, Any] | None, answers: list[Any]) -> int:
    try:
        answers.append(_call(url, method, path, body))
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error", "")
        except ValueError:
            message = ""
        print(f"control: {message or f'the fleet answered {error.code}'}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"control: the fleet does not answer at {url}: {error}", file=sys.stderr)
        return 1
    return 0
