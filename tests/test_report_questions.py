"""The question index (support.report.questions) and README's generated blocks (support.report.readme): what a row
holds, in both languages, how README's blocks are found, rewritten and checked, and where the claims report shows
the index and each claim's short answer."""

from __future__ import annotations

import pytest

from support.claims.schema import Claim, ClaimRegistry, Part, Verdict
from support.errors import SpecInputError
from support.report import build_report, render_markdown, write_report
from support.report.questions import module_path, question_index
from support.report.readme import WRITE_COMMAND, main, readme_blocks, stale_blocks, update_readme

REGISTRY = ClaimRegistry(
    [
        Claim(
            id="source.claim",
            part=Part.BATCH_LOSS,
            quotes=("原文",),
            gloss=("the source",),
            verdict=Verdict.QUALIFIED,
            statement=("first bullet.", "second bullet."),
            statement_zh=("第一条。", "第二条。"),
            short_answer="Yes, with a condition | and a pipe.",
            short_answer_zh="是的,有条件。",
            questions=("Does it hold?", "When does it hold?"),
            questions_zh=("成立吗?", "什么时候成立?"),
        ),
        Claim(
            id="quiet.claim",
            part=Part.BEYOND,
            quotes=(),
            statement="no questions here",
            statement_zh="这里没有问题",
            verdict=Verdict.CONFIRMED,
            sources=("docs",),
        ),
    ]
)
ENV = {"date": "2026-01-01", "torch": "9.9", "devices": ["cpu"], "python": "3.11", "hypothesis_profile": "ci"}


def _index(lang, test_href=module_path):
    return question_index(REGISTRY.values(), lang, claim_href=lambda claim_id: f"R.md#{claim_id}", test_href=test_href)


def test_a_row_holds_the_questions_the_short_answer_and_links_to_the_claim_and_its_test():
    lines = _index("en")
    assert lines[0] == "**Part 1: Computing a batch loss and backpropagating it**"
    row = next(line for line in lines if line.startswith("| Does it hold?"))
    assert row == (
        "| Does it hold?<br>When does it hold? | Yes, with a condition \\| and a pipe. | "
        "[`source.claim`](R.md#source.claim) | "
        "[`test_source_claim.py`](spec/part1_batch_loss/test_source_claim.py) |"
    )
    assert not any("quiet.claim" in line for line in lines)  # a claim without questions has no row


def test_the_chinese_index_asks_and_answers_in_chinese():
    lines = _index("zh")
    assert lines[0].startswith("**第 1 部分:") and "| 问题 | 简短回答 | 论断 | 测试 |" in lines
    assert "| 成立吗?<br>什么时候成立? | 是的,有条件。 | [`source.claim`](R.md#source.claim) |" in "\n".join(lines)


def test_without_a_link_the_test_module_is_named_by_its_path():
    assert "| `spec/part1_batch_loss/test_source_claim.py` |" in "\n".join(_index("en", test_href=lambda claim: None))


def test_an_unknown_language_is_an_input_error():
    with pytest.raises(SpecInputError, match="language must be one of"):
        _index("fr")


README = f"""# title

<!-- BEGIN questions: generated from support/claims by `{WRITE_COMMAND}` -->
stale row
<!-- END questions -->

<!-- BEGIN questions-zh: generated from support/claims by `{WRITE_COMMAND}` -->
<!-- END questions-zh -->

<!-- BEGIN claims: generated from support/claims by `{WRITE_COMMAND}` -->
<!-- END claims -->
"""


def test_readme_blocks_are_rewritten_from_the_registry_and_then_fresh():
    assert stale_blocks(README, REGISTRY) == ["questions", "questions-zh", "claims"]
    fresh = update_readme(README, REGISTRY)
    assert stale_blocks(fresh, REGISTRY) == [] and update_readme(fresh, REGISTRY) == fresh
    blocks = readme_blocks(REGISTRY)
    assert blocks["questions"] in fresh and "stale row" not in fresh
    assert "[`source.claim`](docs/report-zh/README.md#source.claim)" in blocks["questions-zh"]
    assert blocks["claims"].startswith("2 claims: 1 confirmed, 1 qualified, 0 refuted; 1 from part 1 of the source")
    assert "| [`quiet.claim`](docs/report/README.md#quiet.claim) | confirmed |" in blocks["claims"]


def test_a_readme_without_a_block_is_an_input_error_naming_it():
    with pytest.raises(SpecInputError, match="README needs the block 'claims' once"):
        update_readme(README.split("<!-- BEGIN claims")[0], REGISTRY)


def test_the_command_checks_and_writes_and_names_the_fix(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("stale row\n", ""), encoding="utf-8")
    assert main(["--check", str(readme)]) == 1
    assert f"run `{WRITE_COMMAND}`" in capsys.readouterr().err
    assert main(["--write", str(readme)]) == 0
    assert main(["--check", str(readme)]) == 0  # against the shipped registry
    assert main(["--check", str(tmp_path / "missing.md")]) == 2  # not 1: a file that cannot be read is not stale
    assert "missing.md: cannot be read" in capsys.readouterr().err


def test_the_report_shows_the_index_and_each_claims_short_answer_before_its_bullets(tmp_path):
    data = build_report(REGISTRY, [], ENV)
    md = render_markdown(data, REGISTRY, "en", root_link="../..")
    assert "- **[Questions this report answers](#questions)**" in md
    assert '<a id="questions"></a>\n## Questions this report answers' in md
    assert (
        "[`source.claim`](#source.claim) | [`test_source_claim.py`](../../spec/part1_batch_loss/test_source_claim.py) |"
        in md
    )
    claim = md.split('<a id="source.claim"></a>', 1)[1]
    assert (
        claim.index("**Short answer:** Yes, with a condition | and a pipe.")
        < claim.index("**What is true:**\n\n- first bullet.\n- second bullet.")
        < claim.index("> Source:")
    )
    zh = render_markdown(data, REGISTRY, "zh")
    assert "## 本报告回答的问题" in zh and "**简短回答:** 是的,有条件。" in zh and "- 第一条。\n- 第二条。" in zh
    assert "| `spec/part1_batch_loss/test_source_claim.py` |" in zh  # no root given: the path, not a link
    # write_report links the test modules relative to the report's folder
    out = tmp_path / "docs" / "report"
    write_report(data, REGISTRY, out, "en", root=tmp_path)
    assert "](../../spec/part1_batch_loss/test_source_claim.py)" in (out / "README.md").read_text(encoding="utf-8")
