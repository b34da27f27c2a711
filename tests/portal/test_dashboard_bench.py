"""`python -m bench dashboard` runs through its main, small, and prints the cost ratio between two fleet sizes."""

import pytest

from bench import dashboard_bench


def test_the_dashboard_bench_prints_each_request_and_the_ratio_between_fleet_sizes(capsys):
    assert dashboard_bench.main(["--devices", "30", "--requests", "20", "--scale-to", "60"]) == 0
    out = capsys.readouterr().out
    assert "30 devices, 20 requests per row, sqlite" in out
    assert "60 devices, 20 requests per row, sqlite" in out
    assert "cost at 60 devices / cost at 30 devices (target at most 2.0):" in out
    ratios = [line for line in out.splitlines() if line.startswith("partial, sorted by load, page 40 by cursor")]
    assert len(ratios) == 3  # one row in each table, then its ratio
    assert all(float(value) > 0 for value in ratios[-1].split()[-2:])


def test_bad_sizes_are_refused_plainly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        dashboard_bench.main(["--requests", "3"])
    assert exit_info.value.code == 2
    assert "--requests at least 20" in capsys.readouterr().err
