"""The tree passes the linter configured in pyproject.toml ([tool.ruff]): part of the test command, so CI runs it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    # this interpreter's ruff only: the dev extra pins its series, and another ruff's formatter lays code out otherwise
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("ruff (dev extra) is not installed beside this interpreter")
    return [exe]


def test_ruff_check_is_clean_on_the_tree():
    proc = subprocess.run([*_ruff(), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"


def test_ruff_format_leaves_the_tree_unchanged():
    # one layout through the house: the formatter was applied once (.git-blame-ignore-revs lists that commit)
    proc = subprocess.run(
        [*_ruff(), "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"ruff format would change files (run `ruff format .`):\n{proc.stdout[-4000:]}"


def test_registry_lines_stay_within_120_characters_outside_chinese_text():
    # ruff leaves the registry's line length alone (a line of Chinese is two columns a character); this rule
    # keeps the English and the code of those files within the project's 120
    from support.claims.schema import is_cjk

    long_lines = [
        f"{path.name}:{number} ({len(line)})"
        for path in sorted((ROOT / "support" / "claims").glob("part*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > 120 and not any(is_cjk(ch) for ch in line)
    ]
    assert not long_lines, f"registry lines over 120 characters without Chinese text: {long_lines}"


def test_support_modules_stay_under_400_lines_outside_the_registry_data():
    # a module past 400 lines holds more than one concern; the registry's part modules are data (one entry a claim)
    long_modules = [
        f"{path.relative_to(ROOT)} ({n})"
        for path in sorted((ROOT / "support").rglob("*.py"))
        if not (path.parent.name == "claims" and path.name.startswith("part"))
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    ]
    assert not long_modules, f"support modules over 400 lines: {long_modules}; split them by concern"
