"""README opens with the two commands users run; .ci/run runs the second one verbatim."""

import re
from pathlib import Path

import pytest

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
    pins = [
        line
        for line in (ROOT / "constraints" / "cpu.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins == ["torch==2.13.0"]


def test_readme_names_every_registered_claim():
    from support.claims import REGISTRY

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [claim_id for claim_id in REGISTRY if f"`{claim_id}`" not in readme]
    assert not missing, f"README's claims table lacks {missing}"


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", markdown)


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_of_the_readme_resolves_to_a_file_or_an_anchor():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    own = {_github_anchor(h) for h in re.findall(r"^#+ (.+)$", readme, flags=re.M)}
    broken = []
    for target in _links(readme):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        if not path:  # a section of this README
            if anchor not in own:
                broken.append(target)
            continue
        file = ROOT / path
        if not file.exists():
            broken.append(target)
        elif anchor:
            ids = set(re.findall(r'<a id="([^"]+)"></a>', file.read_text(encoding="utf-8")))
            if anchor not in ids:
                broken.append(target)
    assert not broken, f"README links that point nowhere: {broken}"


def test_readmes_generated_blocks_are_what_the_registry_generates():
    from support.claims import REGISTRY
    from support.report.readme import WRITE_COMMAND, stale_blocks

    stale = stale_blocks((ROOT / "README.md").read_text(encoding="utf-8"), REGISTRY)
    assert not stale, f"README's generated blocks {stale} are out of date with support/claims; run `{WRITE_COMMAND}`"


@pytest.mark.parametrize("lang, report", [("en", "docs/report/README.md"), ("zh", "docs/report-zh/README.md")])
def test_the_questions_index_links_each_answer_to_a_claim_in_the_report_and_a_test(lang, report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    name = "questions" if lang == "en" else "questions-zh"
    index = readme.split(f"<!-- BEGIN {name}:", 1)[1].split(f"<!-- END {name} -->", 1)[0]
    rows = [
        line
        for line in index.splitlines()
        if line.startswith("| ") and not line.startswith("| 问题 |") and not line.startswith("| question |")
    ]
    assert sum(row.split(" | ")[0].count("<br>") + 1 for row in rows) >= 45  # questions, several to a row
    for row in rows:
        cells = row.split(" | ")
        assert cells[0].rstrip().endswith(("?", "?")), f"not a question: {row}"
        assert f"]({report}#" in cells[2], f"no link to the claim in {report}: {row}"
        assert "](spec/" in cells[3], f"no link to the test module: {row}"
