"""The device lab's command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_manufacture_prints_identities_with_claim_codes(capsys):
    assert main(["manufacture", "--count", "3", "--seed", "9"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {"serial", "mac", "password", "claim_code", "model"} <= rows[0].keys()
    assert main(["manufacture", "--count", "3", "--seed", "9"]) == 0
    assert json.loads(capsys.readouterr().out) == rows


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fleet", "--count", "many"], "--count"),
        (["fleet", "--speed", "0"], "--speed"),
        (["fleet", "--models", "XYZ"], "unknown model"),
        (["fleet", "--broker", "carrier-pigeon"], "--broker must be"),
        (["fleet", "--scenario", "/no/such.toml"], "cannot read scenario"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1


def test_a_taken_mqtt_port_is_a_clear_message(capsys):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["fleet", "--count", "1", "--mqtt-port", str(port), "--duration", "1"]) == 1
    assert (
        f"port {port} on 127.0.0.1 is already in use; choose another with --mqtt-port"
        in capsys.readouterr().err
    )


@pytest.mark.timeout(60)
def test_fleet_runs_and_stops_by_itself():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "fleet",
            "--count",
            "5",
            "--interval",
            "0.5",
            "--duration",
            "2",
            "--speed",
            "60",
            "--scenario",
            "blackout-10pct",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode == 0, result.stderr
    assert "connected 5/5" in result.stderr and "stopped: 5 devices" in result.stderr


def _lab(*argv: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m simulator ...`` through its real entry point, as the README shows it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "simulator", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout_s,
    )  # fmt: skip


def test_runtime_calculator_runs_from_the_lab_command_line():
    result = _lab("runtime", "--model", "SMT1500C", "--load-percent", "50")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "SMT1500C at 50% load (500 W), 100% charge: 17 min 00 s\n"
    bad = _lab("runtime", "--model", "XYZ", "--load-percent", "50")
    assert bad.returncode == 2 and "Unknown model 'XYZ'" in bad.stderr and "Traceback" not in bad.stderr


def _subcommands_with_required_options() -> list[str]:
    import argparse

    from simulator.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(
        name for name, parser in sub.choices.items() if any(a.required for a in parser._actions)
    )


def test_some_subcommand_has_required_options():
    # guards the parametrisation below against silently testing nothing
    assert "runtime" in _subcommands_with_required_options()


@pytest.mark.parametrize("argv", [[], *([name] for name in _subcommands_with_required_options())])
def test_a_missing_required_argument_is_a_usage_error_not_a_traceback(argv):
    result = _lab(*argv)
    assert result.returncode == 2, result.stderr
    assert "error: the following arguments are required" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
