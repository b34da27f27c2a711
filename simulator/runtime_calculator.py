"""`runtime` subcommand: predicted battery runtime of a catalogue model at a given load."""

from __future__ import annotations

import argparse
import json
import sys

from catalog.ups_models import CATALOG, model_spec
from simulator.ups_model import predict_runtime_s


class _UsageError(Exception):
    """A bad flag value, reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="catalogue model, e.g. SMT1500C")
    parser.add_argument(
        "--load-percent", type=float, required=True, help="load in %% of the W rating (0-100)"
    )
    parser.add_argument(
        "--charge-percent", type=float, default=100.0, help="battery charge in %% (default 100)"
    )
    parser.add_argument(
        "--battery-age-years", type=float, default=0.0, help="battery age in years (default 0)"
    )
    parser.add_argument(
        "--temperature-c", type=float, default=25.0, help="battery temperature in C (default 25)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `runtime` subcommand to a subparsers object; it runs through `args.func(args)`."""
    parser = subparsers.add_parser(
        "runtime",
        help="predicted battery runtime of a model at a load",
        description=f"Predicted battery runtime. Models: {', '.join(sorted(CATALOG))}",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _check(args: argparse.Namespace) -> None:
    model_spec(args.model)  # ValueError names the known models
    if not 0.0 <= args.load_percent <= 100.0:
        raise _UsageError(f"--load-percent must be between 0 and 100, got {args.load_percent:g}")
    if not 0.0 <= args.charge_percent <= 100.0:
        raise _UsageError(f"--charge-percent must be between 0 and 100, got {args.charge_percent:g}")
    if not 0.0 <= args.battery_age_years < 100.0:
        raise _UsageError(f"--battery-age-years must be between 0 and 100, got {args.battery_age_years:g}")
    if not -20.0 <= args.temperature_c <= 60.0:
        raise _UsageError(f"--temperature-c must be between -20 and 60, got {args.temperature_c:g}")


def format_duration(seconds: float) -> str:
    """'17 min 03 s', or '2 h 05 min' from an hour up."""
    total_s = int(round(seconds))
    if total_s >= 3600:
        return f"{total_s // 3600} h {total_s % 3600 // 60:02d} min"
    return f"{total_s // 60} min {total_s % 60:02d} s"


def run(args: argparse.Namespace) -> int:
    """Print the runtime for parsed arguments; 2 with a one-line message on bad values."""
    try:
        _check(args)
    except (_UsageError, ValueError) as error:
        print(f"runtime: error: {error}", file=sys.stderr)
        return 2
    spec = model_spec(args.model)
    seconds = predict_runtime_s(
        spec,
        load_percent=args.load_percent,
        charge_percent=args.charge_percent,
        battery_age_years=args.battery_age_years,
        temperature_c=args.temperature_c,
    )
    load_w = spec.w_rating * args.load_percent / 100.0
    if args.json:
        print(
            json.dumps(
                {
                    "model": spec.model,
                    "load_percent": args.load_percent,
                    "load_w": round(load_w, 1),
                    "charge_percent": args.charge_percent,
                    "battery_age_years": args.battery_age_years,
                    "temperature_c": args.temperature_c,
                    "runtime_s": round(seconds),
                    "runtime_min": round(seconds / 60.0, 1),
                }
            )
        )
    else:
        print(
            f"{spec.model} at {args.load_percent:g}% load ({load_w:.0f} W), "
            f"{args.charge_percent:g}% charge: {format_duration(seconds)}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the calculator standalone: `python -m simulator.runtime_calculator --model SMT1500C ...`."""
    parser = _Parser(prog="runtime", description="Predicted battery runtime of a Smart-UPS model.")
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        print(f"runtime: error: {error}", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
