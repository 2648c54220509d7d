"""spec/README.md shows a newcomer the module template: it must run as written, marker, tensors and figures."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    text = (ROOT / "spec" / "README.md").read_text(encoding="utf-8")
    return [re.sub(r"^   ", "", block, flags=re.M) for block in re.findall(r"```python\n(.+?)```", text, flags=re.S)]


def test_the_module_template_runs_and_passes(pytester: pytest.Pytester):
    template = next(block for block in _python_blocks() if "pytestmark = pytest.mark.claim" in block)
    pytester.syspathinsert(ROOT)
    pytester.makeconftest('pytest_plugins = ["support.pytest_plugin"]')
    pytester.makeini("[pytest]\nclaim_spec_dir = spec\n")
    pytester.mkdir("spec")
    (pytester.path / "spec" / "test_template.py").write_text(template, encoding="utf-8")
    result = pytester.runpytest_subprocess("spec/test_template.py", "-p", "no:randomly", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    assert "参与平均的项数" in (pytester.path / "out.xml").read_text(encoding="utf-8")


def test_the_registry_entry_template_builds_a_claim():
    from support.claims.schema import Claim, Part, Verdict, bullets, text

    entry = next(block for block in _python_blocks() if block.lstrip().startswith("Claim("))
    claim = eval(
        entry.strip().rstrip(","),
        {"Claim": Claim, "P": Part.BEYOND, "Verdict": Verdict, "text": text, "bullets": bullets},
    )
    assert claim.id == "mean.denominator.ignore-index" and claim.in_practice and claim.related
    assert len(claim.statement) == len(claim.statement_zh) == 2 and claim.short_answer and claim.questions_zh
