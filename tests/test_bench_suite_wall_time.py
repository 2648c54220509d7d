"""Tests of bench/suite_wall_time.py's CPU split: bench/_process_cpu.py logs one line per process with its role and
CPU, and split_cpu divides a run's CPU among start-up, tests, controller and the rest, stopping on a log that does
not match the run (a lost or extra line, a worker the controller did not start)."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite_wall_time = _load("suite_wall_time")


BURN = (
    "import resource\n\n"
    "def _cpu():\n"
    "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return u.ru_utime + u.ru_stime\n\n"
    "def test_a():\n"  # the first test: burns at least 0.1 s of CPU
    "    start = _cpu()\n"
    "    while _cpu() - start < 0.1:\n"
    "        sum(range(10_000))\n\n"
    "def test_b():\n"
    "    pass\n"
)


def test_a_serial_run_logs_one_line_whose_start_up_ends_at_its_first_test(pytester, monkeypatch, tmp_path):
    log = tmp_path / "cpu.jsonl"
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("SPEC_BENCH_CPU_LOG", str(log))
    pytester.makepyfile(test_two=BURN)
    pytester.runpytest_inprocess("-p", "_process_cpu", "-p", "no:randomly").assert_outcomes(passed=2)
    (row,) = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert row["role"] == "serial"
    assert row["startup_cpu_s"] > 0
    assert row["total_cpu_s"] - row["startup_cpu_s"] >= 0.1  # test_a's CPU counts as tests, not start-up


def test_without_the_environment_variable_nothing_is_written(pytester, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delenv("SPEC_BENCH_CPU_LOG", raising=False)
    pytester.makepyfile(test_one="def test_a():\n    pass\n")
    before = {p.name for p in pytester.path.iterdir()}
    pytester.runpytest_inprocess("-p", "_process_cpu", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert {p.name for p in pytester.path.iterdir()} == before


def test_the_split_of_a_parallel_run_adds_up_to_its_cpu():
    rows = [
        {"role": "controller", "startup_cpu_s": None, "total_cpu_s": 1.0, "workers": 2},
        {"role": "gw0", "startup_cpu_s": 2.0, "total_cpu_s": 7.0},
        {"role": "gw1", "startup_cpu_s": 1.5, "total_cpu_s": 5.5},
    ]
    split = suite_wall_time.split_cpu(rows, run_cpu_s=16.0, parallel=True)
    assert split == {"processes": 3, "startup": 3.5, "tests": 9.0, "controller": 1.0, "other": 2.5}


@pytest.mark.parametrize(
    ("roles", "parallel"),
    [
        (["gw0", "gw1"], True),  # a parallel run without its controller's line
        (["controller"], True),  # no worker logged
        (["controller", "gw0"], True),  # one of the two workers' lines lost
        (["controller", "gw0", "serial"], True),
        (["controller", "gw0", "gw1", "gw2"], True),  # a line from a worker the controller did not start
        (["controller", "controller", "gw0", "gw1"], True),
        (["serial", "serial"], False),  # two lines for one serial process
        (["controller", "gw0"], False),
        ([], False),
    ],
)
def test_a_log_that_does_not_match_the_run_stops_the_benchmark(roles, parallel):
    rows = [{"role": r, "startup_cpu_s": 1.0, "total_cpu_s": 2.0} for r in roles]
    for row in rows:
        if row["role"] == "controller":
            row.update(startup_cpu_s=None, workers=2)
    with pytest.raises(SystemExit, match="expected"):
        suite_wall_time.split_cpu(rows, run_cpu_s=10.0, parallel=parallel)


def test_a_test_process_that_ran_no_test_stops_the_benchmark():
    rows = [{"role": "serial", "startup_cpu_s": None, "total_cpu_s": 2.0}]
    with pytest.raises(SystemExit, match="no first test"):
        suite_wall_time.split_cpu(rows, run_cpu_s=10.0, parallel=False)
