"""Wall time of the spec run, serial against ``-n auto``. Not part of `pytest spec` (timing is measured, never
asserted in a test).

Runs ``python -m pytest spec -q -p no:cacheprovider`` serially and with ``-n auto``, alternating the two
so that a slow spell of the machine falls on both, and writes every wall time, the medians and the
speed-up (serial median / parallel median) to a JSON file, with the CPU seconds of every run (and the ratio of
their medians, -n auto over serial), a probe of the machine's speed before each pair and the CPU seconds the
machine's other processes used during each run (a shared machine's runs that met other work say so). Each run
must pass; a failed or empty run (pytest exit code 5) stops the
benchmark.

Where the CPU goes: every process of every run loads bench/_process_cpu.py, which logs its CPU at its first test and
at its last hook. The result splits the CPU that ``-n auto`` spends beyond serial into the workers' extra start-up
(interpreter, pytest, torch, collection: paid once per process), their extra test time (work a worker repeats
because the other worker did it too: the first optimizer's import of ``torch._dynamo``, a module's cached runs), the
controller, and the rest (the DDP ranks, interpreter exits). It also times, in fresh interpreters, ``import torch``
and then ``import torch._dynamo``, which every process that builds an optimizer pays
(``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``, which imports it on its first call).

pytest rewrites the asserts of test modules, conftests and plugin modules (the suite's plugin leaves hypothesis
out) and caches the result beside them as ``*-pytest-*.pyc``; where PYTHONDONTWRITEBYTECODE is set nothing is
cached and every process rewrites again. ``--cold`` deletes those caches before every run to time that case; by
default they are kept ("warm", a developer's second run onward).

    python bench/suite_wall_time.py [--repeats 5] [--profile ci|thorough] [--cold] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"serial": [], "-n auto": ["-n", "auto"]}


def rewrite_caches() -> list[Path]:
    """pytest's cached rewritten modules: the project's and those in this interpreter's site-packages."""
    roots = [REPO_ROOT / d for d in ("spec", "support", "tests")] + [
        Path(p) for p in sys.path if p.endswith("site-packages")
    ]
    found = [f for root in roots if root.is_dir() for f in root.rglob("__pycache__/*-pytest-*.pyc")]
    return found + list(REPO_ROOT.glob("__pycache__/*-pytest-*.pyc"))  # conftest.py


def cpu_probe() -> float:
    """Seconds for a fixed pure-Python loop: the machine's speed at that moment. Shared or thermally limited
    machines vary by 2x over minutes; the probe says which runs met a slow spell."""
    t0 = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return time.perf_counter() - t0


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float | None:
    """CPU seconds all processes of the machine have used since boot (Linux /proc/stat; None elsewhere): user, nice,
    system, irq and softirq (proc(5)); not idle or iowait, not steal (time other virtual machines took), and not
    guest or guest_nice, which user and nice already count."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return sum(ticks[i] for i in (0, 1, 2, 5, 6) if i < len(ticks)) / os.sysconf("SC_CLK_TCK")


def run_once(extra: list[str], profile: str, cold: bool) -> tuple[float, float, float | None, dict[str, float]]:
    """(wall, CPU, others' CPU, split) seconds of one run; CPU sums the run's processes (the xdist workers
    included); others' CPU is what the rest of the machine used meanwhile (None where /proc/stat is missing); split
    is where the run's CPU went (``split_cpu``)."""
    if cold:
        for f in rewrite_caches():
            f.unlink()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "spec",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "_process_cpu",
        f"--hypothesis-profile={profile}",
        *extra,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "process_cpu.jsonl"
        env = dict(os.environ, SPEC_BENCH_CPU_LOG=str(log))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "bench"), os.environ.get("PYTHONPATH")]))
        busy0, cpu0, t0 = machine_busy_s(), children_cpu_s(), time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
        wall, cpu, busy1 = time.perf_counter() - t0, children_cpu_s() - cpu0, machine_busy_s()
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    others = None if busy0 is None or busy1 is None else max(0.0, busy1 - busy0 - cpu)
    return wall, cpu, others, split_cpu(rows, cpu, parallel=bool(extra))


def split_cpu(rows: list[dict], run_cpu_s: float, parallel: bool) -> dict[str, float]:
    """Where one run's CPU went, from bench/_process_cpu.py's lines: ``startup`` (the test processes' CPU before
    their first test), ``tests`` (the rest of their CPU up to pytest's last hook), ``controller`` (an xdist
    controller's whole CPU) and ``other`` (the run's CPU that no line accounts for: the DDP ranks the tests start and
    each process's exit)."""
    runners = [r for r in rows if r["role"] != "controller"]
    controllers = [r for r in rows if r["role"] == "controller"]
    if parallel:
        workers = controllers[0].get("workers", 0) if len(controllers) == 1 else 0
        expected = sorted(f"gw{i}" for i in range(workers))
        if len(controllers) != 1 or not expected or sorted(r["role"] for r in runners) != expected:
            sys.exit(f"bench/_process_cpu.py logged {[r['role'] for r in rows]}; expected a controller and its workers")
    elif [r["role"] for r in rows] != ["serial"]:
        sys.exit(f"bench/_process_cpu.py logged {[r['role'] for r in rows]}; expected one serial process")
    if any(r["startup_cpu_s"] is None for r in runners):
        sys.exit(f"a test process logged no first test: {rows}")
    startup = sum(r["startup_cpu_s"] for r in runners)
    tests = sum(r["total_cpu_s"] - r["startup_cpu_s"] for r in runners)
    controller = sum(r["total_cpu_s"] for r in controllers)
    return {
        "processes": len(rows),
        "startup": startup,
        "tests": tests,
        "controller": controller,
        "other": run_cpu_s - startup - tests - controller,
    }


def import_cpu_s(statement: str, before: str = "pass", repeats: int = 3) -> float:
    """Median CPU seconds of ``statement`` in a fresh interpreter, after ``before`` (not counted)."""
    code = (
        f"import resource\n{before}\n"
        "u = resource.getrusage(resource.RUSAGE_SELF)\n"
        f"{statement}\n"
        "v = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(v.ru_utime + v.ru_stime - u.ru_utime - u.ru_stime)"
    )
    cmd = [sys.executable, "-c", code]
    return statistics.median(
        float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout) for _ in range(repeats)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", default="ci", choices=["ci", "thorough"])
    parser.add_argument("--cold", action="store_true", help="delete pytest's rewritten-module caches before every run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if not args.cold:  # one unrecorded run writes the caches (where PYTHONDONTWRITEBYTECODE allows)
        run_once([], args.profile, cold=False)
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    others: dict[str, list[float | None]] = {name: [] for name in CONFIGS}
    splits: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    probes: list[float] = []
    for i in range(args.repeats):
        probes.append(cpu_probe())
        for name, extra in CONFIGS.items():
            wall, cpu_s, others_s, split = run_once(extra, args.profile, args.cold)
            times[name].append(wall)
            cpu[name].append(cpu_s)
            splits[name].append(split)
            others[name].append(None if others_s is None else round(others_s, 1))
            print(
                f"run {i + 1}/{args.repeats} {name:8s} {wall:6.2f} s wall {cpu_s:6.2f} s CPU "
                f"(probe {probes[-1]:.3f} s; other processes {others_s if others_s is None else round(others_s, 1)} "
                f"s CPU)",
                flush=True,
            )
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    split_medians = {
        name: {part: round(statistics.median(s[part] for s in runs), 2) for part in runs[0]}
        for name, runs in splits.items()
    }
    serial, parallel = split_medians["serial"], split_medians["-n auto"]
    imports = {
        "import torch": round(import_cpu_s("import torch"), 2),
        "import torch._dynamo, after torch": round(import_cpu_s("import torch._dynamo", before="import torch"), 2),
    }
    import torch  # only for the record; the runs above are separate processes

    result = {
        "title": "wall time of `pytest spec`, serial and -n auto",
        "command": f"python bench/suite_wall_time.py --repeats {args.repeats} --profile {args.profile}"
        + (" --cold" if args.cold else ""),
        "profile": args.profile,
        "rewrite_cache": "cold (deleted before every run)" if args.cold else "warm (after one unrecorded run)",
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", "(not set)"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "wall_s": {name: [round(t, 2) for t in ts] for name, ts in times.items()},
        "median_s": {name: round(m, 2) for name, m in medians.items()},
        "cpu_s": {name: [round(t, 2) for t in ts] for name, ts in cpu.items()},
        "cpu_probe_s": [round(t, 3) for t in probes],
        "cpu_probe": "seconds of a 3e6-step pure-Python loop before each pair of runs: larger = a slower machine",
        "others_cpu_s": others,
        "others_cpu": "CPU seconds the machine's other processes used during each run (/proc/stat minus the run's "
        "own): more than a few = the run shared the cores",
        "cpu_ratio": round(statistics.median(cpu["-n auto"]) / statistics.median(cpu["serial"]), 2),
        "cpu_split_s": split_medians,
        "cpu_split_runs_s": {
            name: [{part: round(v, 2) for part, v in split.items()} for split in runs] for name, runs in splits.items()
        },
        "cpu_split": "medians over the runs of CPU seconds: startup = the test processes' CPU before their first test "
        "(summed over xdist workers), tests = the rest of their CPU up to pytest's last hook, controller = the xdist "
        "controller's, other = the run's CPU left over (the DDP ranks, interpreter exits); from bench/_process_cpu.py; "
        "cpu_split_runs_s has every run's",
        "cpu_beyond_serial_s": {
            part: round(parallel[part] - serial[part], 2) for part in ("startup", "tests", "controller", "other")
        },
        "import_cpu_s": imports,
        "import_cpu": "median CPU seconds of each import in 3 fresh interpreters; every test process pays both (the "
        "first optimizer imports torch._dynamo)",
        "speed_up": round(medians["serial"] / medians["-n auto"], 2),
    }
    print(
        json.dumps({k: result[k] for k in ("median_s", "speed_up", "cpu_ratio", "cpu_beyond_serial_s", "import_cpu_s")})
    )
    name = f"suite_wall_time_{args.profile}{'_cold' if args.cold else ''}.json"
    out = args.out or Path(__file__).parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
