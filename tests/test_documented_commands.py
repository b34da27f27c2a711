"""Every shell command README.md and docs/*.md show is run here, or by the test named for it.

What counts as a documented command (``documented_commands()``):

1. Lines of fenced code blocks marked ``sh``, ``bash``, ``shell`` or ``console``: each line is a
   command, without its trailing ``# comment``; in ``console`` blocks only lines after a ``$ `` prompt.
   A block that sets a shell variable on a line of its own (``PORT=...``) is a script whose lines
   depend on each other: it is one command, named by its first line.
2. Lines of indented (4-space) code blocks that start like rule 3.
3. Inline ``code`` spans that start with ``make ``, ``python -m ``, ``.venv/bin/``, ``flask ``,
   ``FLASK_APP=`` or ``gunicorn``, or whose first word is ``upsc``, ``upscmd`` or ``upsrw``.

Each command must be a key of ``RUN_HERE`` (run by ``test_documented_command_runs``: through bash in
the repo root, with the venv first on PATH, ``FLASK_APP=portal``, and a temporary database and
instance folder; exit 0 and no traceback) or of ``RUN_ELSEWHERE`` (long-running, or needing a running
lab: the named file must exist and mention the entry point). An unlisted command fails
``test_every_documented_command_is_covered`` with its file and line; a table entry no doc shows any
more fails too, so the tables stay honest.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"sh", "bash", "shell", "console"}
INLINE = re.compile(r"^(make |python -m |\.venv/bin/|flask |FLASK_APP=|gunicorn|(upsc|upscmd|upsrw)(\s|$))")


@dataclass(frozen=True)
class Where:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def _joined(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(1-based line, text) of lines start..end-1, stripped, a line ending in a backslash joined to the next."""
    out: list[tuple[int, str]] = []
    n = start
    while n < end:
        first, text = n + 1, lines[n].strip()
        while text.endswith("\\") and n + 1 < end:
            n += 1
            text = text[:-1].rstrip() + " " + lines[n].strip()
        out.append((first, text))
        n += 1
    return out


def _fenced(rel: str, lines: list[str]) -> list[Where]:
    found: list[Where] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```\s*(\w*)", lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        if fence.group(1) in SHELL_FENCES:
            block: list[Where] = []
            for n, text in _joined(lines, i + 1, end):
                if fence.group(1) == "console":
                    if not text.startswith("$ "):
                        continue
                    text = text[2:]
                text = re.sub(r"\s+#.*$", "", text)
                if text and not text.startswith("#"):
                    block.append(Where(rel, n, text))
            if any(re.match(r"^[A-Z_]+=\S*$", w.text.split(";")[0]) for w in block):
                block = block[:1]  # a script: one command
            found += block
        i = end + 1
    return found


def documented_commands() -> list[Where]:
    found: list[Where] = []
    for path in DOCS:
        rel = str(path.relative_to(ROOT))
        lines = path.read_text().splitlines()
        found += _fenced(rel, lines)
        in_fence = False
        n = 0
        while n < len(lines):
            line = lines[n]
            if line.startswith("```"):
                in_fence = not in_fence
            elif not in_fence and line.startswith("    ") and (n == 0 or not lines[n - 1].strip()):
                end = next((j for j in range(n, len(lines)) if not lines[j].startswith("    ")), len(lines))
                found += [
                    Where(rel, first, text) for first, text in _joined(lines, n, end) if INLINE.match(text)
                ]
                n = end
                continue
            elif not in_fence:
                for span in re.findall(r"`([^`\n]+)`", line):
                    if INLINE.match(span):
                        found.append(Where(rel, n + 1, span.strip()))
            n += 1
    return found


@dataclass(frozen=True)
class Run:
    """How a documented command runs here; ``shell`` replaces the text as written, ``why`` says why."""

    shell: str | None = None
    why: str = ""
    serve: str | None = None  # started; a GET of this path on {port} must answer, then Ctrl-C stops it
    needs: tuple[str, ...] = ()  # programs that must be on PATH
    empty_database: bool = False  # else a database already at the latest migration
    expect: str = ""  # text the output must contain


FREE = "a free port instead of the fixed one"
FLEET_BRIEFLY = "the fleet runs until stopped: --duration ends it"
BENCH = "a benchmark takes minutes: --help shows its entry point starts and the documented flags exist"
DRY_RUN = "runs the test suite or a benchmark itself: make -n shows the target exists and what it runs"
NUT_USERS = (
    r"printf '[admin]\n password = secret\n actions = SET FSD\n instcmds = ALL\n' > {tmp}/upsd.users && "
)

RUN_HERE: dict[str, Run] = {
    "make help": Run(expect="test-postgres"),
    "make run": Run(
        # the target's own recipe, minus the venv set-up make adds when .venv/.installed is older
        shell='eval "$(make --no-print-directory -n run PORT={port} | tail -n 1)"',
        why=FREE,
        serve="/login",
    ),
    "make run PORT=5001": Run(
        shell='eval "$(make --no-print-directory -n run PORT={port} | tail -n 1)"', why=FREE, serve="/login"
    ),
    "make test": Run(shell="make -n test", why=DRY_RUN, expect="pytest tests e2e"),
    "make unit": Run(shell="make -n unit", why=DRY_RUN, expect="pytest tests"),
    "make e2e": Run(shell="make -n e2e", why=DRY_RUN, expect="pytest e2e"),
    "make test-postgres": Run(
        shell="make -n test-postgres", why=DRY_RUN, expect="UPSCONNECT_TEST_DATABASE=postgres"
    ),
    "make bench": Run(shell="make -n bench", why=DRY_RUN, expect="-m bench"),
    "make browser": Run(
        shell="make -n browser", why="installs Chromium over the network when none is on the PATH"
    ),
    "python -m bench fleet": Run(shell="python -m bench --help", why=BENCH),
    "python -m bench dashboard": Run(shell="python -m bench.dashboard_bench --help", why=BENCH, expect="--devices"),
    "python -m simulator runtime --model SMT1500C --load-percent 50": Run(
        expect="SMT1500C at 50% load (500 W), 100% charge: 17 min 00 s"
    ),
    "python -m simulator.runtime_calculator --model SMT1500C --load-percent 50": Run(
        expect="SMT1500C at 50% load (500 W), 100% charge: 17 min 00 s"
    ),
    "python -m simulator fleet --count 100 --seed 1 --interval 10 --speed 60 --control-port 8765": Run(
        shell="python -m simulator fleet --count 100 --seed 1 --interval 10 --speed 60 --control-port {port} --duration 3",
        why=f"{FLEET_BRIEFLY}; {FREE}",
        expect="stopped: 100 devices",
    ),
    "python -m simulator fleet --count 1000 --broker mosquitto --scenario blackout-10pct": Run(
        shell="python -m simulator fleet --count 1000 --broker mosquitto --scenario blackout-10pct --duration 4",
        why=FLEET_BRIEFLY,
        needs=("mosquitto",),
        expect="stopped: 1000 devices",
    ),
    "python -m simulator manufacture --count 10 --seed 1": Run(expect='"claim_code"'),
    "python -m devicelink.nut_bridge --help": Run(expect="--upsd HOST[:PORT]"),
    "python -m simulator fleet --count 5 --nut-port 3493": Run(
        shell="python -m simulator fleet --count 5 --nut-port {port} --duration 2",
        why=f"{FLEET_BRIEFLY}; {FREE}",
        expect="NUT server on 127.0.0.1:",
    ),  # fmt: skip
    "python -m simulator fleet --count 5 --nut-port 0 --nut-users upsd.users --nut-host 127.0.0.1": Run(
        shell=NUT_USERS + "python -m simulator fleet --count 5 --nut-port 0 --nut-users {tmp}/upsd.users "
        "--nut-host 127.0.0.1 --duration 2",
        why=f"{FLEET_BRIEFLY}; the users file is made in the temporary folder",
        expect="NUT user admin",
    ),
    "python -m simulator fleet --nut-port PORT": Run(
        shell="python -m simulator fleet --nut-port {port} --duration 2",
        why=f"{FLEET_BRIEFLY}; PORT is a free port",
    ),
    ".venv/bin/python bench/fleet_bench.py": Run(
        shell=".venv/bin/python bench/fleet_bench.py --help", why=BENCH
    ),
    ".venv/bin/python bench/fleet_bench.py --sizes 1000 --measure 10": Run(
        shell=".venv/bin/python bench/fleet_bench.py --sizes 1000 --measure 10 --help",
        why=BENCH,
        expect="--measure",
    ),  # fmt: skip
    ".venv/bin/python bench/ingest_bench.py": Run(
        shell=".venv/bin/python bench/ingest_bench.py --help", why=BENCH, expect="--rates"
    ),
    ".venv/bin/python bench/ingest_bench.py --postgres --rates 1000,2000,3000,4000,6000,8000": Run(
        shell=".venv/bin/python bench/ingest_bench.py --postgres --rates 1000,2000,3000,4000,6000,8000 --help",
        why=BENCH,
        expect="--postgres",
    ),
    ".venv/bin/python bench/ingest_bench.py --rates 1000,2000,3000,4000,6000,8000": Run(
        shell=".venv/bin/python bench/ingest_bench.py --rates 1000,2000,3000,4000,6000,8000 --help",
        why=BENCH,
        expect="--rates",
    ),
    "python -m bench dashboard --scale-to 50000": Run(
        shell="python -m bench.dashboard_bench --scale-to 50000 --help",
        why=f"{BENCH}; tests/portal/test_dashboard_bench.py runs it small",
        expect="--scale-to",
    ),
    "python -m bench fault": Run(shell="python -m bench.fault_bench --help", why=BENCH, expect="--duration"),
    "python -m bench stack --devices 2000 --rate 200 --duration 60 --runs 3": Run(
        shell="python -m bench stack --devices 2000 --rate 200 --duration 60 --runs 3 --help", why=BENCH,
        expect="--web-workers",
    ),
    "python -m bench stack --devices 10000 --rate 1000 --duration 120 --runs 1": Run(
        shell="python -m bench stack --devices 10000 --rate 1000 --duration 120 --runs 1 --help", why=BENCH,
        expect="--web-workers",
    ),
    "python -m bench stack --postgres": Run(shell="python -m bench stack --postgres --help", why=BENCH, expect="--postgres"),
    ".venv/bin/python bench/fault_bench.py --devices 1000 --rate 100 --duration 180 --runs 3": Run(
        shell=".venv/bin/python bench/fault_bench.py --devices 1000 --rate 100 --duration 180 --runs 3 --help",
        why=BENCH,
        expect="--runs",
    ),
    ".venv/bin/python bench/reports_bench.py 1000 10000": Run(
        shell=".venv/bin/python bench/reports_bench.py 1000 10000 --help", why=BENCH, expect="sizes"
    ),
    ".venv/bin/playwright show-trace e2e-artifacts/<test>/trace.zip": Run(
        shell=".venv/bin/playwright show-trace --help", why="opens a window on a trace a failed e2e run left"
    ),
    '.venv/bin/python -c "import random,timeit; from catalog.ups_models import model_spec; '
    "from simulator.ups_model import *; sp=model_spec('SMT1500C'); r=random.Random(1); "
    "s=initial_state(sp,sim_time_s=1.7e9,rng=r); p=InputPower.nominal(sp); "
    "print(min(timeit.repeat(lambda: step(s,sp,p,(300.0,100.0),5.0,r),number=100000,repeat=3))*10,'us')\"": Run(
        expect=" us"
    ),
    "FLASK_APP=portal .venv/bin/flask db upgrade": Run(empty_database=True, expect="Running upgrade"),
    "flask db upgrade": Run(empty_database=True, expect="Running upgrade"),
    "flask battery": Run(),
    "flask maintenance": Run(),
    "flask renewals": Run(),
    "flask notify": Run(
        shell="flask notify --once", why="the worker loops until stopped: --once sends what is due"
    ),
    "flask --app portal notify": Run(
        shell="flask --app portal notify --once",
        why="the worker loops until stopped: --once sends what is due",
    ),
    ".venv/bin/gunicorn -w 4 -b 127.0.0.1:8000 'portal:create_app()'": Run(
        shell=".venv/bin/gunicorn -w 4 -b 127.0.0.1:{port} 'portal:create_app()'", why=FREE, serve="/login"
    ),
}

# Long-running, or needing a running lab: the file that runs it for real, and what it must mention.
INGEST_PROCESS = (  # the test starts its workers through the fixture in conftest.py
    ("tests/ingest/test_ingest_process.py", "ingest_process("),
    ("tests/ingest/conftest.py", '"-m", "flask", "ingest"'),
)
NUT_CLIENTS = "tests/simulator/test_nut_server.py"
CONTROL_CLI = ("tests/simulator/test_control_cli.py", 'main(["control"')  # needs a running fleet
RUN_ELSEWHERE: dict[str, tuple[str, str] | tuple[tuple[str, str], ...]] = {
    "python -m simulator control --url http://127.0.0.1:8765 devices": CONTROL_CLI,
    "python -m simulator control add --count 3 --seed 7 --model SMT1500C": CONTROL_CLI,
    "python -m simulator control run --kind blackout --duration 10m --serials AS2311123456": CONTROL_CLI,
    "python -m simulator control run --scenario brownout": CONTROL_CLI,
    "python -m simulator control stop 1": CONTROL_CLI,
    "python -m simulator control run --kind replace_battery --serials AS2311123456": CONTROL_CLI,
    "flask ingest": INGEST_PROCESS,
    "python -m flask ingest": INGEST_PROCESS,
    "flask ingest --metrics-port 9101": ("tests/ingest/test_ingest_process.py", '"--metrics-port"'),
    "flask notify --metrics-port 9102": ("tests/portal/test_operations.py", '"--metrics-port"'),
    # needs PostgreSQL and the setting (on SQLite it refuses): the partition tests run it through the CLI
    "flask telemetry partition": ("tests/ingest/test_telemetry_partitions.py", '"telemetry", "partition"'),
    ".venv/bin/python bench/partitions_bench.py --devices 100 --interval 60 --days 10": (
        "tests/ingest/test_telemetry_partitions.py",
        '"bench/partitions_bench.py", "--devices"',
    ),
    "flask ingest --shared ingest --client-id ingest-1": (
        "tests/ingest/test_ingest_process.py",
        '"--shared"',
    ),
    "flask ingest --shared ingest --client-id ingest-2": (
        "tests/ingest/test_ingest_process.py",
        '"--shared"',
    ),
    "python -m flask run --no-reload --with-threads": (
        "e2e/stack.py",
        '"--no-reload",\n                "--with-threads"',
    ),
    "python -m simulator fleet --count N --seed S --broker mqtt://127.0.0.1:<port> "
    "--control-port P --interval 1 --speed 1": ("e2e/stack.py", '"--control-port"'),
    # broker.example stands for the user's own broker; the e2e stack runs the fleet on a broker URL
    "python -m simulator fleet --count 50 --broker mqtt://user:pass@broker.example:1883": (
        "e2e/stack.py",
        'f"mqtt://127.0.0.1:{mqtt_port}"',
    ),  # fmt: skip
    # docs/api.md's curl examples: one script, run against a live portal with a real broker and a token
    "API=${API:-http://127.0.0.1:5000/api/v1}": ("tests/api/test_api_docs.py", "curl_block()"),
    "PORT=${PORT:-3493}": ("tests/simulator/test_nut_docs.py", 'recipe("Read the lab with upsc")'),
    "PORT=${PORT:-3493}; printf '[mon]\\n password = secret\\n upsmon primary\\n' > upsd.users": (
        "tests/simulator/test_nut_docs.py",
        'recipe("Test upsmon shutdown against the lab")',
    ),  # fmt: skip
    "PORTAL=${PORTAL:-https://ups.example.com}; BROKER=${BROKER:-mqtts://ups.example.com:8883}; "
    "UPSD=${UPSD:-127.0.0.1:3493}": ("tests/devicelink/test_nut_bridge_docs.py", 'recipe("Bridge a real UPS")'),
    "python -m devicelink.nut_bridge": ("e2e/test_nut_bridge_journey.py", '"-m", "devicelink.nut_bridge"'),
    # the whole-stack bench in a tiny run, for real
    "python -m bench stack --devices 50 --rate 25 --duration 10 --runs 1 --web-workers 2": (
        "tests/ingest/test_stack_bench.py",
        '"--devices", "50", "--rate", "25", "--duration", "10", "--runs", "1", "--web-workers", "2"',
    ),
    # the short version of the fault run, for real
    ".venv/bin/python bench/fault_bench.py --devices 12 --rate 6 --duration 16": (
        "tests/ingest/test_fault_bench.py",
        '"bench/fault_bench.py"',
    ),
    "upsc": (NUT_CLIENTS, 'run("upsc"'),
    "upscmd": (NUT_CLIENTS, 'run("upscmd"'),
    "upsrw": (NUT_CLIENTS, 'run("upsrw"'),
    "upsc -l 127.0.0.1:PORT": (NUT_CLIENTS, 'run("upsc", "-l"'),
    "upsrw -s input.sensitivity=low": (NUT_CLIENTS, 'run("upsrw", "-s", "input.sensitivity=low"'),
    "upscmd -w": ("tests/test_documented_commands.py", 'nut_client("upscmd", "-w"'),
    "upsrw -w": ("tests/test_documented_commands.py", 'nut_client("upsrw", "-w"'),
}


def test_every_documented_command_is_covered():
    found = documented_commands()
    missing = [str(w) for w in found if w.text not in RUN_HERE and w.text not in RUN_ELSEWHERE]
    assert not missing, (
        "documented commands no test runs; add each to RUN_HERE or RUN_ELSEWHERE in "
        f"{Path(__file__).name}:\n  " + "\n  ".join(missing)
    )
    shown = {w.text for w in found}
    stale = sorted((RUN_HERE.keys() | RUN_ELSEWHERE.keys()) - shown)
    assert not stale, f"table entries no doc shows any more: {stale}"
    assert not RUN_HERE.keys() & RUN_ELSEWHERE.keys()


@pytest.mark.parametrize("command", sorted(RUN_ELSEWHERE))
def test_long_running_command_is_run_by_the_named_test(command):
    entry = RUN_ELSEWHERE[command]
    for path, mention in entry if isinstance(entry[0], tuple) else (entry,):
        assert (ROOT / path).is_file(), f"{path} (which should run `{command}`) does not exist"
        assert mention in (ROOT / path).read_text(), f"{path} does not mention {mention!r} (`{command}`)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(tmp: Path) -> dict[str, str]:
    # nothing of the developer's: no UPSCONNECT_* or FLASK_* from outside, a database in tmp
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCONNECT_", "FLASK_"))}
    return {
        **env,
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "FLASK_APP": "portal",  # as the Makefile exports it, and the README says
        "UPSCONNECT_DATABASE_URL": f"sqlite:///{tmp / 'portal.db'}",
        "UPSCONNECT_INSTANCE_PATH": str(tmp / "instance"),
        "UPSCONNECT_MAIL_PORT": "9",  # discard: nothing is due in a fresh database anyway
    }


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("migrated")
    subprocess.run(
        [VENV_BIN / "flask", "db", "upgrade"], cwd=ROOT, env=_environment(tmp), check=True, capture_output=True,
        timeout=120,
    )  # fmt: skip
    return tmp / "portal.db"


def _instance_files() -> set[Path]:
    instance = ROOT / "instance"
    return set(instance.rglob("*")) if instance.exists() else set()


def _serve(shell: str, env: dict[str, str], port: int, path: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        ["bash", "-c", shell], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    answered = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and answered is None:
            try:
                # A generous timeout: a first request cut short would leave a worker busy when Ctrl-C comes.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
                    response.read()
                    answered = response.status
            except urllib.error.HTTPError as error:
                answered = error.code
            except OSError:
                time.sleep(0.3)
        if proc.poll() is None:
            # Ctrl-C once the server is idle, as a user stops it: gunicorn's quick shutdown prints its own
            # SystemExit traceback for a worker still finishing the response it just sent.
            time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert answered is not None and answered < 500, (
        f"no answer on {path} (HTTP {answered}):\n{output[-3000:]}"
    )
    return proc.returncode, output


def nut_client(program: str, *args: str, target: str, env: dict[str, str], after: tuple[str, ...] = ()):
    """A NUT client logged in as the lab's admin; upscmd takes its command after the target."""
    return subprocess.run(
        [program, *args, "-u", "admin", "-p", "secret", target, *after], env=env, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip


@pytest.mark.timeout(180)
@pytest.mark.parametrize("command", sorted(RUN_HERE))
def test_documented_command_runs(command, tmp_path, request):
    run = RUN_HERE[command]
    missing = [program for program in run.needs if shutil.which(program) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, not installed")
    if not run.empty_database:
        migrated = request.getfixturevalue("migrated_database")
        for part in migrated.parent.glob(migrated.name + "*"):  # with its -wal: SQLite keeps WAL mode
            shutil.copy(part, tmp_path / part.name)
    port = _free_port()
    shell = (run.shell or command).replace("{port}", str(port)).replace("{tmp}", str(tmp_path))
    env = _environment(tmp_path)
    before = _instance_files()
    if run.serve:
        returncode, output = _serve(shell, env, port, run.serve)
    else:
        result = subprocess.run(
            ["bash", "-c", shell], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150
        )
        returncode, output = result.returncode, result.stdout + result.stderr
    assert returncode == 0, f"`{shell}` exited {returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert run.expect in output, f"`{shell}` did not print {run.expect!r}:\n{output[-3000:]}"
    assert _instance_files() == before, "the command wrote into the checkout's instance/ folder"


@pytest.mark.timeout(120)
def test_nut_tracking_flags_against_the_lab(tmp_path):
    """`upscmd -w` and `upsrw -w` (docs/nut.md) wait for the lab to report a tracked command SUCCESS."""
    if shutil.which("upscmd") is None or shutil.which("upsrw") is None:
        pytest.skip("needs upscmd and upsrw (apt-get install nut-client)")
    env = _environment(tmp_path)
    (tmp_path / "upsd.users").write_text("[admin]\n password = secret\n actions = SET\n instcmds = ALL\n")
    port = _free_port()
    lab = subprocess.Popen(
        [sys.executable, "-m", "simulator", "fleet", "--count", "1", "--interval", "0.5", "--nut-port", str(port),
         "--nut-users", str(tmp_path / "upsd.users")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        listed = ""
        while time.monotonic() < deadline and not listed:
            listed = subprocess.run(
                ["upsc", "-l", f"127.0.0.1:{port}"], env=env, capture_output=True, text=True
            ).stdout
            time.sleep(0.2)
        assert listed, "the lab's NUT server did not list a UPS"
        target = f"{listed.split()[0]}@127.0.0.1:{port}"
        command = nut_client("upscmd", "-w", target=target, env=env, after=("beeper.disable",))
        assert command.returncode == 0 and "SUCCESS" in command.stdout + command.stderr, command
        write = nut_client("upsrw", "-w", "-s", "input.sensitivity=low", target=target, env=env)
        assert write.returncode == 0 and "SUCCESS" in write.stdout + write.stderr, write
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(30)
