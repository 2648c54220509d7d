"""A pytest plugin that bench/suite_wall_time.py loads (``-p _process_cpu``, bench/ on PYTHONPATH) into every
process of a timed run: each process appends one JSON line to the file named by ``SPEC_BENCH_CPU_LOG`` with its role
(``serial``, ``controller`` or the xdist worker's id), its CPU seconds when its first test started (start-up:
interpreter, pytest, plugins, torch, collection; None for the controller, which runs no test) and at its last hook
(``pytest_unconfigure``); the controller adds how many workers it started. The CPU a process spends after that hook
(interpreter exit) and the CPU of the processes the tests start (the DDP ranks) are what the run's total leaves over.
Reading the clock costs microseconds; the plugin imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import resource

import pytest

LOG_ENV = "SPEC_BENCH_CPU_LOG"
_first_test_cpu_s: float | None = None


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _role(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        return str(worker["workerid"])
    return "controller" if config.getoption("dist", "no") != "no" and config.getoption("tx", None) else "serial"


def pytest_configure(config: pytest.Config) -> None:
    global _first_test_cpu_s
    _first_test_cpu_s = None  # a session run in a process that ran one before (pytester) starts afresh


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    global _first_test_cpu_s
    if _first_test_cpu_s is None:
        _first_test_cpu_s = _cpu_s()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    role = _role(config)
    row = {"role": role, "startup_cpu_s": _first_test_cpu_s, "total_cpu_s": _cpu_s()}
    if role == "controller":  # its "first test" is the first one a worker started
        row.update(startup_cpu_s=None, workers=len(config.getoption("tx")))
    with open(path, "a", encoding="utf-8") as f:  # one short line per process: appends do not interleave
        f.write(json.dumps(row) + "\n")
