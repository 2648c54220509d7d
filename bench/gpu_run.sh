#!/usr/bin/env bash
# The GPU check of the spec, in one command, for a machine with CUDA where torch, pytest, pytest-xdist,
# hypothesis, numpy and matplotlib are already installed (the lent device machine: Python 3.12, torch
# 2.11+cu130, no network). Nothing is installed: the repository root goes on PYTHONPATH.
#
#   OUT=dir bash bench/gpu_run.sh            # on the GPU machine
#   DEVICES=cpu BENCH_DEVICE=cpu OUT=/tmp/x bash bench/gpu_run.sh   # a dry run of the script on a CPU machine
#
# Writes six files to OUT (the device tool brings back at most 8): env.txt (date, GPU, driver, torch, the
# spec's exit code and wall time), spec.log, junit.xml, report.tgz (the claims report), bench.log and
# per_sample_cost_<device>.json. Exits with the spec's exit code (5, no tests, is a failure like any other).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
DEVICES=${DEVICES:-cpu,cuda}
BENCH_DEVICE=${BENCH_DEVICE:-cuda}
WORKERS=${WORKERS:-8}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

{
  date -u +"%Y-%m-%d %H:%M UTC"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda available', torch.cuda.is_available())"
} >"$OUT/env.txt" 2>&1

start=$(date +%s)
"$PY" -m pytest spec -n "$WORKERS" --device="$DEVICES" -p no:cacheprovider \
  --claims-report="$OUT/report" --junitxml="$OUT/junit.xml" 2>&1 | tee "$OUT/spec.log"
rc=${PIPESTATUS[0]}
echo "pytest spec -n $WORKERS --device=$DEVICES: exit $rc, wall $(($(date +%s) - start)) s" | tee -a "$OUT/env.txt"
tar czf "$OUT/report.tgz" -C "$OUT" report && rm -rf "$OUT/report"

"$PY" bench/per_sample_cost.py --device "$BENCH_DEVICE" --repeats 15 \
  --out "$OUT/per_sample_cost_$BENCH_DEVICE.json" >"$OUT/bench.log" 2>&1 || echo "benchmark failed: see bench.log" | tee -a "$OUT/env.txt"
exit "$rc"
