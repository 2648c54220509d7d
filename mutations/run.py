"""Mutation check of the spec itself: each module here breaks one PyTorch behaviour the spec describes
(loaded as a pytest plugin, it patches torch in the test processes only). The spec must go red under every
mutation and stay green without one; this prints which claims each mutation turned red.

    python mutations/run.py [mutation ...]      # default: every mutation in this folder
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_spec(plugin: str | None) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pytest", "spec", "-q", "-n", "auto", "-p", "no:cacheprovider"]
    if plugin:
        cmd += ["-p", plugin]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    red = re.findall(r"^FAILING CLAIM (\S+)", proc.stdout, flags=re.M)
    summary = (proc.stdout.strip().splitlines() or [""])[-1]
    return proc.returncode, red, summary


def main(argv: list[str]) -> int:
    known = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run")
    chosen = argv or known
    unknown = [m for m in chosen if m not in known]
    if unknown:
        print(f"unknown mutation(s) {unknown}; known: {known}", file=sys.stderr)
        return 2
    code, red, summary = run_spec(None)
    print(f"baseline: {summary}")
    if code != 0:
        print("the unmutated spec is not green; fix that first", file=sys.stderr)
        return 1
    survivors = []
    for name in chosen:
        code, red, summary = run_spec(name)
        print(f"{name}: {summary}\n  red claims: {', '.join(red) or 'none'}")
        if code != 1 or not red:
            survivors.append(name)
    if survivors:
        print(f"mutations the spec did not catch: {survivors}", file=sys.stderr)
        return 1
    print(f"all {len(chosen)} mutations caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
