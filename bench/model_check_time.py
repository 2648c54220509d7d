"""Wall time of spec/part6_your_model on models of the sizes people check (--model). Not part of `pytest spec`.

For each model, runs in separate processes, alternated, ``--repeats`` times each:
  serial - pytest spec/part6_your_model --model=<model> --torch-threads=2
           (one process using both cores of a 2-core machine)
  -n 2   - the same with -n 2 (two xdist workers, one torch thread each; the controller loads and validates the
           model once, each worker loads it again)
and once, for the record, the default run of part 6 (the four reference models, no --model) serially.
The models: examples/resnet18_like.py, the CIFAR ResNet-18 (3x3 stem, no max-pool, 64-128-256-512 channels, 11.2M
parameters), batch 8 of 32x32 RGB images, 10 classes, Adam (lr 1e-3); examples/bert_classifier.py, a 2-layer BERT
(hidden 64, transformers, from its config) on a padded dict batch of 8 x 16 tokens, AdamW at 5e-5 (check 9 then
retrains with Adam at 1e-3). Writes the wall times (median, min, max) and each check's call time from the serial
runs' JUnit XML (median) to bench/results/model_check_time.json.

    python bench/model_check_time.py [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "examples.resnet18_like:make": "ResNet-18-sized CNN, 11.2M parameters, batch 8, 32x32",
    "examples.bert_classifier:make": "2-layer BERT (transformers), hidden 64, batch 8 x 16 tokens",
}
BASE = [sys.executable, "-m", "pytest", "spec/part6_your_model", "-q", "-p", "no:cacheprovider"]
CONFIGS = {
    "serial, 2 torch threads": ["--torch-threads=2"],
    "-n 2, 1 torch thread each": ["-n", "2"],
}
LIMIT_S = 60.0  # the budget for a ResNet-18-sized model on 2 CPU cores


def run_once(extra: list[str]) -> tuple[float, dict[str, float]]:
    """Wall time of one pytest run, and each test's call time (from --junitxml) by test name."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        proc = subprocess.run(BASE + extra + [f"--junitxml={xml}"], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"pytest failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        calls = {case.get("name"): float(case.get("time")) for case in ET.parse(xml).iter("testcase")}
    return wall, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    import torch  # for the record only: the runs are separate processes

    models = []
    for model, what in MODELS.items():
        run_once([f"--model={model}"] + CONFIGS["serial, 2 torch threads"])  # unrecorded: warms the caches
        walls: dict[str, list[float]] = {name: [] for name in CONFIGS}
        calls: dict[str, list[float]] = {}
        for i in range(args.repeats):
            for name, extra in CONFIGS.items():
                wall, per_test = run_once([f"--model={model}"] + extra)
                walls[name].append(wall)
                if name.startswith("serial"):
                    for test, t in per_test.items():
                        calls.setdefault(test, []).append(t)
                print(f"{model} run {i + 1}/{args.repeats} {name:28s} {wall:6.2f} s", flush=True)
        models.append(
            {
                "model": model,
                "what": what,
                "rows": [
                    {
                        "run": name,
                        "median_s": round(statistics.median(ts), 2),
                        "min_s": round(min(ts), 2),
                        "max_s": round(max(ts), 2),
                    }
                    for name, ts in walls.items()
                ],
                "check_call_s_median_serial": {
                    test: round(statistics.median(ts), 2) for test, ts in sorted(calls.items())
                },
            }
        )
    default_wall, _ = run_once([])
    print(f"default (reference models)    {default_wall:6.2f} s")
    result = {
        "title": "wall time of spec/part6_your_model with --model, per model",
        "command": f"python bench/model_check_time.py --repeats {args.repeats}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "limit_s": LIMIT_S,
        "models": models,
        "default_part6_wall_s": round(default_wall, 2),
    }
    print(json.dumps([{m["model"]: m["rows"]} for m in models]))
    out = args.out or ROOT / "bench" / "results" / "model_check_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
