"""The claims report (--claims-report), tested on a throw-away project with its own registry."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from tests.pytest_helpers import spec_project

REGISTRY_SRC = textwrap.dedent(
    """
    from support.claims.schema import Claim, ClaimRegistry, Part, Verdict

    REGISTRY = ClaimRegistry([
        Claim(id="good.claim", part=Part.BEYOND, quotes=(), statement="good statement", statement_zh="好的论断",
              verdict=Verdict.REFUTED, sources=("source A",)),
        Claim(id="bad.claim", part=Part.BEYOND, quotes=(), statement="bad statement", statement_zh="坏的论断",
              verdict=Verdict.CONFIRMED, sources=("source B",)),
        Claim(id="idle.claim", part=Part.BEYOND, quotes=(), statement="idle statement", statement_zh="未运行的论断",
              verdict=Verdict.QUALIFIED, sources=("source C",)),
    ])
    """
)
TESTS_SRC = textwrap.dedent(
    """
    import pytest

    @pytest.mark.claim("good.claim")
    @pytest.mark.parametrize("k", [1, 2])
    def test_good(k, figures):
        figures.record(f"ratio {k}", 1.5 * k, "1", zh=f"比值 {k}", note="derived", note_zh="推导所得")
        plot = figures.plot("growth", x_label="depth (layers)", y_label="norm", log_y=True,
                            zh=("增长", "深度(层)", "范数"))
        plot.line(f"curve {k}", [1, 2, 4], [k, 2 * k, 4 * k], zh=f"曲线 {k}")

    @pytest.mark.claim("bad.claim")
    def test_bad():
        assert 2 + 2 == 5, "arithmetic changed"

    @pytest.mark.claim("idle.claim")
    def test_idle():
        pytest.skip("needs a GPU")
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester, request: pytest.FixtureRequest):
    with spec_project(pytester, request, REGISTRY_SRC) as project:
        (project.path / "spec" / "test_claims.py").write_text(TESTS_SRC, encoding="utf-8")
        yield project


def _content(directory) -> tuple[str, dict]:
    data = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    for claim in data["claims"]:
        for test in claim["tests"]:
            test.pop("duration_s")
    return (directory / "README.md").read_text(encoding="utf-8"), data


def test_report_shows_each_claim_with_the_status_this_run_supports(project):
    result = project.runpytest_inprocess("--claims-report=out")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    readme, data = _content(project.path / "out")
    status = {c["id"]: c["status"] for c in data["claims"]}
    assert status == {"good.claim": "supported", "bad.claim": "failing", "idle.claim": "not run"}
    assert "**Verdict: refuted** (supported by this run)" in readme
    # a failing or unrun claim never shows its verdict as established
    assert "**Verdict: NOT supported by this run: a test failed** (registered: confirmed)" in readme
    assert "**Verdict: NOT checked by this run: its tests were not run** (registered: qualified)" in readme
    assert "arithmetic changed" in readme and "needs a GPU" in readme
    assert "| ratio 2 | 3 | 1 (dimensionless) | derived |" in readme
    good = next(c for c in data["claims"] if c["id"] == "good.claim")
    # the file: the slugs of claim and title, and 8 hex digits of sha256("<claim id>\n<title>")
    digest = hashlib.sha256(b"good.claim\ngrowth").hexdigest()[:8]
    file = f"figures/good-claim--growth--{digest}.png"
    assert [p["file"] for p in good["plots"]] == [file]
    png = project.path / "out" / file
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result.stdout.fnmatch_lines(
        ["*FAILING CLAIM bad.claim (confirmed): 1 failed test(s), first spec/test_claims.py::test_bad*"]
    )


def test_report_in_chinese_uses_the_chinese_statements(project):
    project.runpytest_inprocess("--claims-report=out", "--claims-report-lang=zh")
    readme = (project.path / "out" / "README.md").read_text(encoding="utf-8")
    assert "好的论断" in readme and "good statement" not in readme
    assert "**结论: 不成立** (本次运行支持该结论)" in readme


def test_serial_and_xdist_runs_give_the_same_report(project):
    project.runpytest_inprocess("--claims-report=serial")
    project.runpytest_subprocess("-n", "2", "--claims-report=parallel")
    assert _content(project.path / "serial") == _content(project.path / "parallel")


def test_unwritable_report_directory_is_a_usage_error(project):
    (project.path / "a_file").write_text("not a directory")
    result = project.runpytest_inprocess("--claims-report=a_file/out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-report=a_file/out: cannot write there*"])


def test_report_without_any_claim_test_is_a_clear_error(project):
    result = project.runpytest_inprocess("--claims-report=out", "-k", "no_such_test")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*--claims-report=*out: no test checking a claim ran*"])
    assert not (project.path / "out" / "README.md").exists()


def test_unknown_report_language_is_a_usage_error(project):
    result = project.runpytest_inprocess("--claims-report=out", "--claims-report-lang=fr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-report-lang='fr': expected one of ('en', 'zh')*"])


def _count_builds(monkeypatch) -> list[int]:
    from support import report as report_lib

    calls = []
    real = report_lib.build_report

    def counted(*args, **kwargs):
        calls.append(len(args[3]) if len(args) > 3 else len(kwargs.get("benchmarks", ())))
        return real(*args, **kwargs)

    monkeypatch.setattr(report_lib, "build_report", counted)
    return calls


def test_a_plain_run_reads_no_benchmark_results_and_builds_the_summary_once(project, monkeypatch):
    calls = _count_builds(monkeypatch)
    bench = project.path / "bench" / "results"
    bench.mkdir(parents=True)
    (bench / "broken.json").write_text("{not json", encoding="utf-8")
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # test_bad fails; the broken benchmark is not read
    result.stdout.fnmatch_lines(["*claims checked in this run: 2 of 3 registered*"])
    assert calls == [0]  # one build, for the summary, without benchmarks


def test_the_report_reads_the_benchmark_results_and_is_built_once(project, monkeypatch):
    calls = _count_builds(monkeypatch)
    bench = project.path / "bench" / "results"
    bench.mkdir(parents=True)
    (bench / "good.json").write_text(json.dumps({"claim": "good.claim", "rows": [{"n": 1}]}), encoding="utf-8")
    result = project.runpytest_inprocess("--claims-report=out")
    result.stdout.fnmatch_lines(["*claims checked in this run: 2 of 3 registered*", "*claims report written to*"])
    assert calls == [1]  # one build with the one benchmark; the summary reuses it
    _, data = _content(project.path / "out")
    assert next(c for c in data["claims"] if c["id"] == "good.claim")["benchmarks"][0]["rows"] == [{"n": 1}]


def test_an_unreadable_benchmark_result_stops_the_report_naming_the_file(project):
    bench = project.path / "bench" / "results"
    bench.mkdir(parents=True)
    (bench / "broken.json").write_text("{not json", encoding="utf-8")
    result = project.runpytest_inprocess("--claims-report=out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*ERROR: --claims-report=*out: benchmark result *broken.json cannot be read*"])
    assert not (project.path / "out" / "README.md").exists()
