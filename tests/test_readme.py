"""README opens with the two commands users run; .ci/run runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)[:2]


def test_readme_opens_with_setup_and_spec_then_full_test_command():
    spec_cmd, full_cmd = _readme_commands()
    assert "pytest spec -n auto" in spec_cmd
    assert "-c constraints/cpu.txt" in spec_cmd and "-c constraints/cpu.txt" in full_cmd
    assert re.search(r"pytest -n auto", full_cmd)


def test_ci_runs_the_readme_full_test_command():
    _, full_cmd = _readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert full_cmd in ci_lines
    assert "set -euo pipefail" in ci_lines  # a failing step (or pytest's exit 5) fails CI


def test_constraints_pin_the_local_cpu_build():
    pins = [line for line in (ROOT / "constraints" / "cpu.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins == ["torch==2.13.0"]


def test_readme_names_every_registered_claim():
    from support.claims import REGISTRY

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [claim_id for claim_id in REGISTRY if f"`{claim_id}`" not in readme]
    assert not missing, f"README's claims table lacks {missing}"
