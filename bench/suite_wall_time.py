"""Wall time of the spec run, serial against ``-n auto``. Not part of `pytest spec` (timing is measured, never
asserted in a test).

Runs ``python -m pytest spec -q -p no:cacheprovider`` serially and with ``-n auto``, alternating the two
so that a slow spell of the machine falls on both, and writes every wall time, the medians and the
speed-up (serial median / parallel median) to a JSON file, with the CPU seconds of every run (and the ratio of
their medians, -n auto over serial), a probe of the machine's speed before each pair and the CPU seconds the
machine's other processes used during each run (a shared machine's runs that met other work say so). Each run
must pass; a failed or empty run (pytest exit code 5) stops the
benchmark.

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


def run_once(extra: list[str], profile: str, cold: bool) -> tuple[float, float, float | None]:
    """(wall, CPU, others' CPU) seconds of one run; CPU sums the run's processes (the xdist workers included);
    others' CPU is what the rest of the machine used meanwhile (None where /proc/stat is missing)."""
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
        f"--hypothesis-profile={profile}",
        *extra,
    ]
    busy0, cpu0, t0 = machine_busy_s(), children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    wall, cpu, busy1 = time.perf_counter() - t0, children_cpu_s() - cpu0, machine_busy_s()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    others = None if busy0 is None or busy1 is None else max(0.0, busy1 - busy0 - cpu)
    return wall, cpu, others


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
    probes: list[float] = []
    for i in range(args.repeats):
        probes.append(cpu_probe())
        for name, extra in CONFIGS.items():
            wall, cpu_s, others_s = run_once(extra, args.profile, args.cold)
            times[name].append(wall)
            cpu[name].append(cpu_s)
            others[name].append(None if others_s is None else round(others_s, 1))
            print(
                f"run {i + 1}/{args.repeats} {name:8s} {wall:6.2f} s wall {cpu_s:6.2f} s CPU "
                f"(probe {probes[-1]:.3f} s; other processes {others_s if others_s is None else round(others_s, 1)} "
                f"s CPU)",
                flush=True,
            )
    medians = {name: statistics.median(ts) for name, ts in times.items()}
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
        "speed_up": round(medians["serial"] / medians["-n auto"], 2),
    }
    print(json.dumps({k: result[k] for k in ("median_s", "speed_up", "cpu_ratio")}))
    name = f"suite_wall_time_{args.profile}{'_cold' if args.cold else ''}.json"
    out = args.out or Path(__file__).parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
