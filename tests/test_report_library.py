"""The report library (support.report) on its own: plain records in, data, Markdown and files out; no pytest run."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.claims.schema import Claim, ClaimRegistry, Part, Verdict
from support.errors import SpecInputError
from support.report import TestRecord, build_report, first_lines, load_benchmarks, render_markdown, write_report

REGISTRY = ClaimRegistry(
    [
        Claim(
            id="source.claim",
            part=Part.BATCH_LOSS,
            quotes=("原文的一句话",),
            gloss=("a sentence of the source",),
            statement="what holds",
            statement_zh="实际成立的",
            in_practice="do this",
            in_practice_zh="这样做",
            related=("good.claim",),
            verdict=Verdict.QUALIFIED,
        ),
        Claim(
            id="good.claim",
            part=Part.BEYOND,
            quotes=(),
            statement="good statement",
            statement_zh="好的论断",
            verdict=Verdict.REFUTED,
            sources=("source A",),
        ),
        Claim(
            id="bad.claim",
            part=Part.BEYOND,
            quotes=(),
            statement="bad statement",
            statement_zh="坏的论断",
            verdict=Verdict.CONFIRMED,
            sources=("source B",),
        ),
        Claim(
            id="idle.claim",
            part=Part.BEYOND,
            quotes=(),
            statement="idle statement",
            statement_zh="未运行的论断",
            verdict=Verdict.QUALIFIED,
            sources=("source C",),
        ),
    ]
)
ENV = {"date": "2026-01-01", "torch": "9.9", "devices": ["cpu"], "python": "3.11", "hypothesis_profile": "ci"}
SERIES = {
    "name": "curve",
    "plot": "growth",
    "x": [1.0, 2.0],
    "y": [1.0, 4.0],
    "x_label": "depth (layers)",
    "y_label": "norm",
    "log_x": False,
    "log_y": True,
    "style": "line",
}


def _png(claim_id: str, title: str, slugs: str) -> str:
    """A plot's file as support.report.plots names it: the slugs, then 8 hex digits of sha256("<claim id>\\n<title>")
    (the hash keeps titles whose slugs collide apart)."""
    digest = hashlib.sha256(f"{claim_id}\n{title}".encode()).hexdigest()[:8]
    return f"figures/{slugs}--{digest}.png"


GROWTH_PNG = _png("good.claim", "growth", "good-claim--growth")


def records():
    return [
        TestRecord(
            "spec/t.py::test_good[1]",
            claims=["good.claim"],
            figures=[{"name": "ratio", "value": 1.5, "unit": "1", "note": "derived"}],
            series=[SERIES],
        ),
        TestRecord("spec/t.py::test_good[2]", claims=["good.claim"]),
        TestRecord("spec/t.py::test_bad", claims=["bad.claim"], outcome="failed", message="E   arithmetic changed"),
        TestRecord("spec/t.py::test_both", claims=["bad.claim", "good.claim"], outcome="skipped", message="no GPU"),
    ]


def test_a_claim_is_supported_only_when_its_tests_ran_and_none_failed():
    data = build_report(REGISTRY, records(), ENV)
    status = {c["id"]: c["status"] for c in data["claims"]}
    assert status == {
        "source.claim": "not run",
        "good.claim": "supported",
        "bad.claim": "failing",
        "idle.claim": "not run",
    }
    assert data["counts"]["claims_by_status"] == {"supported": 1, "failing": 1, "not run": 2}
    assert data["counts"]["tests_by_outcome"] == {"passed": 2, "failed": 1, "skipped": 1}
    assert data["counts"]["claims_by_verdict"] == {"confirmed": 1, "qualified": 2, "refuted": 1}
    # the claims this run checked, apart from the registry: a narrowed run counts only its own
    assert (data["counts"]["claims_checked"], data["counts"]["claims_registered"]) == (2, 4)
    assert data["counts"]["checked_by_verdict"] == {"confirmed": 1, "qualified": 0, "refuted": 1}
    good = next(c for c in data["claims"] if c["id"] == "good.claim")
    assert [t["nodeid"] for t in good["tests"]] == [
        "spec/t.py::test_both",
        "spec/t.py::test_good[1]",
        "spec/t.py::test_good[2]",
    ]
    assert good["figures"] == [
        {"name": "ratio", "value": 1.5, "unit": "1", "note": "derived", "test": "spec/t.py::test_good[1]"}
    ]


def test_only_skipped_tests_leave_a_claim_not_run():
    data = build_report(REGISTRY, [TestRecord("spec/t.py::test_x", claims=["idle.claim"], outcome="skipped")], ENV)
    assert {c["id"]: c["status"] for c in data["claims"]}["idle.claim"] == "not run"


def test_markdown_never_shows_an_unsupported_verdict_as_established():
    md = render_markdown(build_report(REGISTRY, records(), ENV), REGISTRY, "en")
    assert "**Verdict: refuted** (supported by this run)" in md
    assert "**Verdict: NOT supported by this run: a test failed** (registered: confirmed)" in md
    assert "**Verdict: NOT checked by this run: its tests were not run** (registered: qualified)" in md
    assert "| ratio | 1.5 | 1 (dimensionless) | derived |" in md
    assert "- `spec/t.py::test_good`: 2 passed, 1 skipped" not in md  # test_both is its own function
    assert "- `spec/t.py::test_good`: 2 passed" in md
    assert "arithmetic changed" in md and "no GPU" in md


def test_markdown_in_chinese_uses_the_chinese_statements_and_part_titles():
    md = render_markdown(build_report(REGISTRY, records(), ENV), REGISTRY, "zh")
    assert "好的论断" in md and "good statement" not in md
    assert "**结论: 不成立** (本次运行支持该结论)" in md
    assert "## 第 5 部分:" in md


def test_the_part_heading_names_the_part_once():
    md = render_markdown(build_report(REGISTRY, records(), ENV), REGISTRY, "en")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings == ["## Contents", f"## Part 1: {Part.BATCH_LOSS.title}", f"## Part 5: {Part.BEYOND.title}"]


def test_each_claim_carries_its_gloss_advice_and_related_claims_in_the_reports_language():
    data = build_report(REGISTRY, records(), ENV)
    en, zh = render_markdown(data, REGISTRY, "en"), render_markdown(data, REGISTRY, "zh")
    assert "> *In English: a sentence of the source*" in en and "a sentence of the source" not in zh
    assert "**In practice:** do this" in en and "**实践建议:** 这样做" in zh
    # related links go both ways: source.claim names good.claim, so good.claim links back
    assert "**Related claims:** [`good.claim`](#good.claim)" in en
    assert "**Related claims:** [`source.claim`](#source.claim)" in en


def test_the_chinese_report_names_figures_units_and_captions_in_chinese(tmp_path):
    recs = records()
    recs[0].figures = [
        {"name": "ratio", "value": 1.5, "unit": "nats", "note": "derived", "name_zh": "比值", "note_zh": "推导所得"}
    ]
    recs[0].series = [dict(SERIES, zh={"name": "曲线", "plot": "增长", "x_label": "深度(层)", "y_label": "范数"})]
    readme = write_report(build_report(REGISTRY, recs, ENV), REGISTRY, tmp_path, "zh").read_text(encoding="utf-8")
    assert "| 比值 | 1.5 | 奈特 | 推导所得 |" in readme
    assert "*图:增长。横轴:深度(层);纵轴:范数。*" in readme
    en = write_report(build_report(REGISTRY, recs, ENV), REGISTRY, tmp_path / "en", "en").read_text(encoding="utf-8")
    assert "| ratio | 1.5 | nats | derived |" in en
    assert "*Figure: growth. x: depth (layers); y: norm.*" in en


def broken_links(markdown: str, base) -> list[str]:
    """Links of a rendered report that point nowhere: '#anchor' without an <a id> or heading, or a missing file."""
    import re

    anchors = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", markdown):
        if target.startswith("#"):
            if target[1:] not in anchors:
                bad.append(target)
        elif "://" not in target and not (base / target.split("#")[0]).exists():
            bad.append(target)
    return bad


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_link_of_the_report_resolves_to_an_anchor_or_a_file(tmp_path, lang):
    readme = write_report(build_report(REGISTRY, records(), ENV), REGISTRY, tmp_path, lang)
    text = readme.read_text(encoding="utf-8")
    assert "](#source.claim)" in text and f"]({GROWTH_PNG})" in text  # the checker has work to do
    assert broken_links(text, tmp_path) == []
    assert broken_links(text + "\n[x](#nowhere) [y](figures/none.png)", tmp_path) == ["#nowhere", "figures/none.png"]


def test_write_report_writes_readme_results_and_one_png_per_plot(tmp_path):
    stale = tmp_path / "figures" / "old.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    readme = write_report(build_report(REGISTRY, records(), ENV), REGISTRY, tmp_path, "en")
    assert readme == tmp_path / "README.md" and readme.read_text(encoding="utf-8").startswith("# ")
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    good = next(c for c in data["claims"] if c["id"] == "good.claim")
    assert good["plots"] == [
        {"title": "growth", "x_label": "depth (layers)", "y_label": "norm", "zh": {}, "file": GROWTH_PNG}
    ]
    assert (tmp_path / good["plots"][0]["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not stale.exists()
    assert f"![growth]({GROWTH_PNG})" in readme.read_text(encoding="utf-8")


def test_plots_whose_titles_slug_alike_get_files_of_their_own(tmp_path):
    # "loss (mean)" and "loss, mean" both slug to "loss-mean": without the hash the second PNG overwrote the first
    from support.report import render_plots

    series = [dict(SERIES, plot="loss (mean)", y=[1.0, 2.0]), dict(SERIES, plot="loss, mean", y=[3.0, 1.0])]
    plots = render_plots({"id": "good.claim", "series": series}, tmp_path)
    files = [p["file"] for p in plots]
    assert files == [
        _png("good.claim", "loss (mean)", "good-claim--loss-mean"),
        _png("good.claim", "loss, mean", "good-claim--loss-mean"),
    ]
    assert len(set(files)) == 2
    assert all((tmp_path / f.removeprefix("figures/")).exists() for f in files)


def test_benchmarks_that_name_a_claim_are_attached_to_it(tmp_path):
    bench = tmp_path / "bench" / "results"
    bench.mkdir(parents=True)
    (bench / "a.json").write_text(json.dumps({"claim": "good.claim", "rows": [{"n": 8, "ratio": 2.5}]}))
    (bench / "other.json").write_text(json.dumps({"not": "a benchmark"}))
    loaded = load_benchmarks(bench, tmp_path)
    assert loaded == [{"claim": "good.claim", "rows": [{"n": 8, "ratio": 2.5}], "file": "bench/results/a.json"}]
    data = build_report(REGISTRY, records(), ENV, loaded)
    assert next(c for c in data["claims"] if c["id"] == "good.claim")["benchmarks"] == loaded
    assert "| n | ratio |" in render_markdown(data, REGISTRY, "en")


def test_bad_input_names_the_problem(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SpecInputError, match="broken.json cannot be read"):
        load_benchmarks(tmp_path, tmp_path)
    with pytest.raises(SpecInputError, match="outcome must be one of"):
        TestRecord("t", outcome="error")
    with pytest.raises(SpecInputError, match="language must be one of"):
        write_report(build_report(REGISTRY, [], ENV), REGISTRY, tmp_path, "fr")
    with pytest.raises(SpecInputError, match="lang must be one of"):
        render_markdown(build_report(REGISTRY, [], ENV), REGISTRY, "fr")
    with pytest.raises(SpecInputError, match="claims must be a list of claim ids"):
        TestRecord("t", claims="good.claim")
    with pytest.raises(SpecInputError, match="good.claim"):  # an unknown id names the close match
        build_report(REGISTRY, [TestRecord("spec/t.py::test_x", claims=["good.clam"], outcome="failed")], ENV)
    assert load_benchmarks(str(tmp_path / "none"), str(tmp_path)) == []  # paths as strings are accepted


def test_first_lines_prefers_the_error_lines():
    assert first_lines("context\nE   boom\n  more\nE   bang\n") == "E   boom\nE   bang"
    assert first_lines("a\n\nb\nc", n=2) == "a\nb"


def _check_record(nodeid, subject, outcome="passed", message="", check_id="can-overfit-one-batch"):
    return TestRecord(
        nodeid,
        claims=["good.claim"],
        outcome=outcome,
        message=message,
        check={
            "id": check_id,
            "title": "the model can overfit one batch",
            "subject": subject,
            "device": "cpu",
            "reference": False,
        },
        check_result={
            "outcome": "fail" if outcome == "failed" else "pass",
            "message": f"{subject}: what the check found",
            "message_zh": f"{subject}:检查的发现",
            "note": "",
            "note_zh": "",
        },
        figures=[{"name": "final loss", "value": 0.1, "unit": "loss units", "note": ""}],
        series=[dict(SERIES, plot=f"overfitting one batch: {subject}")],
    )


def test_model_checks_get_their_own_section_and_do_not_count_for_the_claims():
    checks = [
        _check_record("spec/part6/t.py::test_fit[mine-cpu]", "mine", outcome="failed", message="E   boom"),
        _check_record("spec/part6/t.py::test_grad[mine-cpu]", "mine", check_id="every-parameter-gets-a-gradient"),
    ]
    data = build_report(REGISTRY, records() + checks, ENV)
    good = next(c for c in data["claims"] if c["id"] == "good.claim")
    assert good["status"] == "supported"  # the failing check on a model does not make the claim fail
    assert all("part6" not in t["nodeid"] for t in good["tests"])
    assert data["counts"]["tests_by_outcome"] == {"passed": 2, "failed": 1, "skipped": 1}
    section = data["your_model"]
    assert section["subjects"] == ["mine"] and section["counts"] == {"passed": 1, "failed": 1, "skipped": 0}
    # in the order of the checks (support.model_check.catalog), not alphabetically
    assert [c["id"] for c in section["checks"]] == ["every-parameter-gets-a-gradient", "can-overfit-one-batch"]
    fit = section["checks"][1]
    assert fit["claims"] == ["good.claim"] and fit["results"][0]["message"] == "mine: what the check found"
    assert fit["figures"][0]["subject"] == "mine" and fit["series"][0]["subject"] == "mine"
    assert "your_model" not in build_report(REGISTRY, records(), ENV)


def test_the_your_model_section_in_english_and_chinese(tmp_path):
    checks = [_check_record("spec/part6/t.py::test_fit[mine-cpu]", "mine", outcome="failed")]
    data = build_report(REGISTRY, records() + checks, ENV)
    md = render_markdown(data, REGISTRY, "en")
    assert "## Your model" in md and "| the model can overfit one batch | FAIL |" in md
    assert "- `mine`: **FAIL** -- mine: what the check found" in md
    assert "| final loss | `mine` | 0.1 | loss units |" in md
    zh = render_markdown(data, REGISTRY, "zh")
    assert "## 你的模型" in zh and "### 模型能过拟合一个 batch" in zh and "**失败**" in zh
    assert "mine:检查的发现" in zh  # the check's message in Chinese
    assert "- [Your model](#your-model): `mine`" in md  # linked from the top
    readme = write_report(data, REGISTRY, tmp_path, "en")
    png = _png(
        "model check can-overfit-one-batch",
        "overfitting one batch: mine",
        "model-check-can-overfit-one-batch--overfitting-one-batch-mine",
    )
    assert f"![overfitting one batch: mine]({png})" in readme.read_text(encoding="utf-8")
    assert (tmp_path / png).exists()


def test_a_check_record_without_its_fields_is_rejected():
    bad = TestRecord("spec/part6/t.py::test_x", claims=["good.claim"], check={"id": "x"})
    with pytest.raises(SpecInputError, match=r"its check record lacks \['title', 'subject', 'device'\]"):
        build_report(REGISTRY, [bad], ENV)


def test_a_pipe_in_a_figure_name_does_not_break_the_table():
    recs = records()
    recs[0].figures = [{"name": "||g|| / ||mean g||", "value": 2.0, "unit": "1", "note": "a|b"}]
    md = render_markdown(build_report(REGISTRY, recs, ENV), REGISTRY, "en")
    assert "| \\|\\|g\\|\\| / \\|\\|mean g\\|\\| | 2 | 1 (dimensionless) | a\\|b |" in md


def test_a_figure_shows_what_it_was_measured_on_next_to_its_number():
    recs = records()
    recs[0].figures = [
        {
            "name": "drift",
            "value": 0.5,
            "unit": "1",
            "note": "",
            "measured_on": "MLP 4-8-3, batch 16",
            "measured_on_zh": "MLP 4-8-3,batch 大小 16",
            "name_zh": "偏离",
        },
        {"name": "ratio", "value": 2.0, "unit": "1", "note": ""},
    ]
    data = build_report(REGISTRY, recs, ENV)
    en, zh = render_markdown(data, REGISTRY, "en"), render_markdown(data, REGISTRY, "zh")
    assert "| figure | value | unit | measured on | note |" in en
    assert "| drift | 0.5 | 1 (dimensionless) | MLP 4-8-3, batch 16 |  |" in en
    assert "| ratio | 2 | 1 (dimensionless) |  |  |" in en  # a figure without it leaves the cell empty
    assert "| 偏离 | 0.5 | 1(无量纲) | MLP 4-8-3,batch 大小 16 |  |" in zh
    # a claim whose figures do not say it has no such column
    assert "| figure | value | unit | note |" in render_markdown(build_report(REGISTRY, records(), ENV), REGISTRY, "en")


def test_a_series_that_overflows_is_drawn_up_to_its_overflow(tmp_path):
    # a run that overflows records values up to ~1e271 before inf (explosion.definition at 3x its limit); on a log
    # axis the autoscale margin around them reached inf and matplotlib's ticks raised OverflowError: they are dropped
    from support.report.plots import PLOT_LIMIT, render_plots

    claim = {"id": "good.claim", "series": [dict(SERIES, y=[0.6, 1e100, 4.6e271, "inf"], x=[0, 1, 2, 3])]}
    plots = render_plots(claim, tmp_path)
    assert len(plots) == 1 and (tmp_path / plots[0]["file"].removeprefix("figures/")).exists()
    assert 1e100 <= PLOT_LIMIT < 4.6e271
