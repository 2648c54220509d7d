"""The claims report: after a run, the seed's claims in order, each with its verdict, the tests that
checked it in *this* run, the figures they measured and plots of the series they recorded.

Tests record data (``figures.record`` / ``figures.series``, carried in each report's user_properties, so
xdist workers' data reaches the controller); this module renders it after the run, outside any test.
Written with ``--claims-report=DIR`` (``--claims-report-lang=en|zh``): DIR/README.md, DIR/results.json,
DIR/figures/*.png.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.claims.model import ClaimRegistry, Part, Verdict

LANGS = ("en", "zh")
STATUS_ORDER = ("supported", "failing", "not run")

TEXT = {
    "en": {
        "title": "The seed, verified",
        "intro": "Each claim of the source document, the verdict the evidence supports, and the evidence measured in "
                 "this run. A claim shows its verdict only when every test that checks it passed in this run.",
        "date": "date", "torch": "torch", "devices": "devices", "python": "python", "profile": "hypothesis profile",
        "claims_by_verdict": "claims by verdict", "tests_by_outcome": "claim tests by outcome",
        "outcomes": {"passed": "passed", "failed": "failed", "skipped": "skipped"},
        "registered": "registered", "none_ran": "(none ran)",
        "claims_by_status": "claims by status in this run",
        "seed": "Seed", "true": "What is true", "verdict": "Verdict", "tests": "Tests", "figures": "Measured figures",
        "sources": "Sources", "plots": "Plots", "benchmark": "Benchmark (measured outside the test run)", "figure": "figure", "value": "value", "unit": "unit", "note": "note",
        "status": {"supported": "supported by this run", "failing": "NOT supported by this run: a test failed",
                   "not run": "NOT checked by this run: its tests were not run"},
        "verdicts": {Verdict.CONFIRMED: "confirmed", Verdict.QUALIFIED: "qualified", Verdict.REFUTED: "refuted"},
        "part": "Part", "beyond": "Beyond the document",
    },
    "zh": {
        "title": "原文逐条验证",
        "intro": "原文的每条论断、证据支持的结论,以及本次运行实测的证据。只有当检验某条论断的所有测试在本次运行中全部通过时,才显示其结论。",
        "date": "日期", "torch": "torch 版本", "devices": "设备", "python": "python 版本", "profile": "hypothesis 配置",
        "claims_by_verdict": "按结论统计的论断数", "tests_by_outcome": "检验论断的测试按结果统计",
        "outcomes": {"passed": "通过", "failed": "失败", "skipped": "跳过"},
        "registered": "登记的结论", "none_ran": "(没有运行)",
        "claims_by_status": "本次运行中论断的状态",
        "seed": "原文", "true": "实际情况", "verdict": "结论", "tests": "测试", "figures": "实测数据",
        "sources": "来源", "plots": "图", "benchmark": "基准测试(在测试运行之外测量)", "figure": "指标", "value": "数值", "unit": "单位", "note": "说明",
        "status": {"supported": "本次运行支持该结论", "failing": "本次运行不支持该结论:有测试失败",
                   "not run": "本次运行未检验:相关测试没有运行"},
        "verdicts": {Verdict.CONFIRMED: "成立", Verdict.QUALIFIED: "有条件成立", Verdict.REFUTED: "不成立"},
        "part": "第", "beyond": "文档之外",
    },
}
PART_TITLES_ZH = {
    Part.BATCH_LOSS: "Torch 建模计算一个 batch loss 如何进行反向传播",
    Part.EXPLOSION: "反向传播中的梯度爆炸, batch 数据中 Loss 求和求平均处理",
    Part.LOSS_AND_GRADIENT: "损失值大小与梯度的关系",
    Part.ACCURACY_AND_LOSS: "准确度与损失值的关系",
    Part.BEYOND: "文档之外:实践中容易出错的 batch 损失细节",
}


@dataclass
class TestRecord:
    nodeid: str
    claims: list[str] = field(default_factory=list)
    outcome: str = "passed"  # passed | failed | skipped
    message: str = ""
    duration: float = 0.0
    figures: list[dict] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)


class ClaimsReport:
    """Collects every test report (on the controller under xdist) and writes the report at the end."""

    def __init__(self, config: pytest.Config, registry: ClaimRegistry, out_dir: Path | None, lang: str):
        self.config = config
        self.registry = registry
        self.out_dir = out_dir
        self.lang = lang
        self.tests: dict[str, TestRecord] = {}
        self.error: str | None = None

    # ------------------------------------------------------------ collecting
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        claims = [v for k, v in report.user_properties if k == "claim"]
        if not claims:
            return
        rec = self.tests.setdefault(report.nodeid, TestRecord(report.nodeid, claims=sorted(set(claims))))
        rec.duration += report.duration
        if report.when == "call" or (report.when == "setup" and report.skipped):
            rec.figures = [v for k, v in report.user_properties if k == "figure"]
            rec.series = [v for k, v in report.user_properties if k == "series"]
        if report.failed:
            rec.outcome = "failed"
            rec.message = _first_lines(report.longreprtext)
        elif report.skipped and rec.outcome != "failed":
            rec.outcome = "skipped"
            rec.message = _skip_reason(report)

    # ------------------------------------------------------------ the model
    def build(self) -> dict:
        benchmarks = load_benchmarks(self.config.rootpath / BENCH_RESULTS)
        by_claim: dict[str, list[TestRecord]] = defaultdict(list)
        for rec in sorted(self.tests.values(), key=lambda r: r.nodeid):
            for claim_id in rec.claims:
                by_claim[claim_id].append(rec)
        claims = []
        for claim in self.registry.values():
            recs = by_claim.get(claim.id, [])
            outcomes = [r.outcome for r in recs]
            if "failed" in outcomes:
                status = "failing"
            elif "passed" in outcomes:
                status = "supported"
            else:
                status = "not run"
            claims.append({
                "id": claim.id, "part": claim.part.number, "quotes": list(claim.quotes),
                "statement": claim.statement, "statement_zh": claim.statement_zh,
                "verdict": claim.verdict.value, "status": status, "sources": list(claim.sources),
                "tests": [{"nodeid": r.nodeid, "outcome": r.outcome, "message": r.message,
                           "duration_s": round(r.duration, 3)} for r in recs],
                "figures": [dict(f, test=r.nodeid) for r in recs for f in r.figures],
                "series": [dict(s, test=r.nodeid) for r in recs for s in r.series],
                "benchmarks": [b for b in benchmarks if b.get("claim") == claim.id],
            })
        test_counts = defaultdict(int)
        for rec in self.tests.values():
            test_counts[rec.outcome] += 1
        return {
            "meta": _environment(self.config),
            "counts": {
                "claims_by_verdict": {v.value: sum(c["verdict"] == v.value for c in claims) for v in Verdict},
                "claims_by_status": {s: sum(c["status"] == s for c in claims) for s in STATUS_ORDER},
                "tests_by_outcome": {k: test_counts[k] for k in ("passed", "failed", "skipped")},
            },
            "claims": claims,
        }

    # ------------------------------------------------------------ output
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.out_dir is None or hasattr(self.config, "workerinput"):
            return
        if not self.tests:
            self.error = (f"--claims-report={self.out_dir}: no test checking a claim ran, so there is nothing to "
                          f"report (give the spec directory, or a selection that includes claim tests)")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        data = self.build()
        figures_dir = self.out_dir / "figures"
        figures_dir.mkdir(parents=True, exist_ok=True)
        for old in figures_dir.glob("*.png"):
            old.unlink()
        for claim in data["claims"]:
            claim["plots"] = render_plots(claim, figures_dir)
        (self.out_dir / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (self.out_dir / "README.md").write_text(render_markdown(data, self.registry, self.lang), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if hasattr(config, "workerinput"):
            return
        tr = terminalreporter
        if not self.tests:
            if self.error:
                tr.write_line(f"ERROR: {self.error}", red=True)
            return
        data = self.build()
        tr.section("claims")
        for verdict, n in data["counts"]["claims_by_verdict"].items():
            tr.write_line(f"{verdict}: {n} claims")
        for status, n in data["counts"]["claims_by_status"].items():
            tr.write_line(f"{status}: {n} claims")
        for c in data["claims"]:
            if c["status"] == "failing":
                failed = [t["nodeid"] for t in c["tests"] if t["outcome"] == "failed"]
                tr.write_line(f"FAILING CLAIM {c['id']} ({c['verdict']}): {len(failed)} failed test(s), first {failed[0]}",
                              red=True)
        if self.error:
            tr.write_line(f"ERROR: {self.error}", red=True)
        elif self.out_dir is not None:
            tr.write_line(f"claims report written to {self.out_dir / 'README.md'}")


BENCH_RESULTS = "bench/results"


def load_benchmarks(directory: Path) -> list[dict]:
    """Benchmark results (JSON written by the scripts in bench/, outside the test run) that name a claim."""
    results = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise pytest.UsageError(f"benchmark result {path} cannot be read: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("claim"), str) and isinstance(data.get("rows"), list):
            results.append(dict(data, file=str(path.relative_to(directory.parent.parent))))
    return results


def _group_by_function(tests: list[dict]) -> list[tuple[str, list[dict]]]:
    """Parametrized cases of one test function together, in node-id order."""
    groups: dict[str, list[dict]] = {}
    for test in tests:
        groups.setdefault(test["nodeid"].split("[", 1)[0], []).append(test)
    return sorted(groups.items())


def _first_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E ")]
    return "\n".join((errors or lines)[:n])


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def _environment(config: pytest.Config) -> dict:
    from support.pytest_plugin import spec_environment, spec_state

    env = spec_environment(config)
    return {
        "date": _dt.date.today().isoformat(),
        "torch": env["torch"],
        "devices": env["devices"],
        "python": platform.python_version(),
        "hypothesis_profile": spec_state(config).profile,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plot"


def render_plots(claim: dict, figures_dir: Path) -> list[dict]:
    """One PNG per (claim, plot title); returns [{"title", "file"}]."""
    if not claim["series"]:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = defaultdict(list)
    for s in claim["series"]:
        groups[s.get("plot") or s["name"]].append(s)
    for members in groups.values():  # natural order in the legend: K=2, 3, 10 rather than 10, 2, 3
        members.sort(key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s["name"])])
    plots = []
    for title in sorted(groups):
        series = groups[title]
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
        for s in series:
            xs = [float(v) for v in s["x"]]  # "inf"/"nan" become floats; matplotlib leaves them out
            ys = [float(v) for v in s["y"]]
            style = s.get("style", "line")
            if style == "points":
                ax.plot(xs, ys, "o", label=s["name"], markersize=6)
            elif style == "dashed":
                ax.plot(xs, ys, "--", label=s["name"], linewidth=1.2)
            else:
                ax.plot(xs, ys, "-o", label=s["name"], markersize=3)
        first = series[0]
        if any(s.get("log_x") for s in series):
            ax.set_xscale("log")
        if any(s.get("log_y") for s in series):
            ax.set_yscale("log")
        ax.set_xlabel(first.get("x_label", "x"))
        ax.set_ylabel(first.get("y_label", "y"))
        ax.set_title(textwrap.fill(f"{claim['id']}: {title}", 70), fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"{_slug(claim['id'])}--{_slug(title)}.png"
        fig.savefig(figures_dir / name, metadata={"Software": None})
        plt.close(fig)
        plots.append({"title": title, "file": f"figures/{name}"})
    return plots


def _fmt(value) -> str:
    if isinstance(value, str):
        return value
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def render_markdown(data: dict, registry: ClaimRegistry, lang: str) -> str:
    t = TEXT[lang]
    meta, counts = data["meta"], data["counts"]
    out = [f"# {t['title']}", "", t["intro"], ""]
    out += [
        f"- {t['date']}: {meta['date']}",
        f"- {t['torch']}: {meta['torch']}",
        f"- {t['devices']}: {', '.join(meta['devices'])}",
        f"- {t['python']}: {meta['python']}",
        f"- {t['profile']}: {meta['hypothesis_profile']}",
        f"- {t['claims_by_verdict']}: " + ", ".join(
            f"{t['verdicts'][Verdict(k)]} {v}" for k, v in counts["claims_by_verdict"].items()),
        f"- {t['claims_by_status']}: " + ", ".join(f"{t['status'][k]} {v}" for k, v in counts["claims_by_status"].items()),
        f"- {t['tests_by_outcome']}: " + ", ".join(f"{t['outcomes'][k]} {v}" for k, v in counts["tests_by_outcome"].items()),
        "",
    ]
    current_part = None
    for c in data["claims"]:
        part = registry[c["id"]].part
        if part is not current_part:
            current_part = part
            title = part.title if lang == "en" else PART_TITLES_ZH[part]
            heading = (f"{t['part']} {part.number}: {title}" if lang == "en" else f"{t['part']} {part.number} 部分:{title}") \
                if part.in_seed else f"{t['beyond']}: {title}" if lang == "en" else title
            out += [f"## {heading}", ""]
        out += [f"### `{c['id']}`", ""]
        for q in c["quotes"]:
            out += [f"> {t['seed']}:「{q}」", ""]
        statement = c["statement_zh"] if lang == "zh" and c["statement_zh"] else c["statement"]
        out += [f"**{t['true']}:** {statement}", ""]
        verdict = t["verdicts"][Verdict(c["verdict"])]
        if c["status"] == "supported":
            out += [f"**{t['verdict']}: {verdict}** ({t['status']['supported']})", ""]
        else:
            out += [f"**{t['verdict']}: {t['status'][c['status']]}** ({t['registered']}: {verdict})", ""]
        out += [f"**{t['tests']}:**", ""]
        if not c["tests"]:
            out += [f"- {t['none_ran']}", ""]
        for base, tests in _group_by_function(c["tests"]):
            tally = ", ".join(f"{sum(x['outcome'] == o for x in tests)} {t['outcomes'][o]}" for o in ("passed", "failed", "skipped")
                              if any(x["outcome"] == o for x in tests))
            out.append(f"- `{base}`: {tally}")
            for test in tests:
                if test["outcome"] != "passed" and test["message"]:
                    body = "\n".join("    " + ln for ln in test["message"].splitlines())
                    out.append(f"  - `{test['nodeid']}` {t['outcomes'][test['outcome']]}:\n\n    ```\n{body}\n    ```")
        out.append("")
        if c["figures"]:
            out += [f"**{t['figures']}:**", "", f"| {t['figure']} | {t['value']} | {t['unit']} | {t['note']} |",
                    "|---|---|---|---|"]
            for f in c["figures"]:
                out.append(f"| {f['name']} | {_fmt(f['value'])} | {f['unit']} | {f.get('note', '')} |")
            out.append("")
        for b in c.get("benchmarks", []):
            out += [f"**{t['benchmark']}:** {b.get('title', '')} ({b.get('device')}, {b.get('machine')}, torch "
                    f"{b.get('torch')}, {b.get('date')}; `{b.get('command')}`, {b['file']})", ""]
            if b["rows"]:
                cols = list(b["rows"][0])
                out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                out += ["| " + " | ".join(_fmt(r[k]) if isinstance(r[k], float) else str(r[k]) for k in cols) + " |"
                        for r in b["rows"]]
                out.append("")
        for p in c.get("plots", []):
            out += [f"![{p['title']}]({p['file']})", ""]
        if c["sources"]:
            out += [f"**{t['sources']}:** " + "; ".join(c["sources"]), ""]
    return "\n".join(out).rstrip() + "\n"


def configure(config: pytest.Config, registry: ClaimRegistry) -> ClaimsReport:
    """Validate the report options and register the collector (called from the plugin's pytest_configure)."""
    raw = config.getoption("claims_report")
    lang = config.getoption("claims_report_lang")
    if lang not in LANGS:
        source = "SPEC_REPORT_LANG" if lang == os.environ.get("SPEC_REPORT_LANG") else "--claims-report-lang"
        raise pytest.UsageError(f"{source}={lang!r}: expected one of {LANGS}")
    out_dir = None
    if raw is not None:
        out_dir = Path(raw).expanduser().resolve()
        if not hasattr(config, "workerinput"):
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                probe = out_dir / ".write-test"
                probe.write_text("", encoding="utf-8")
                probe.unlink()
            except OSError as exc:
                raise pytest.UsageError(f"--claims-report={raw}: cannot write there ({exc.strerror or exc})") from None
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise pytest.UsageError("--claims-report needs matplotlib: install the project with the 'report' extra "
                                    "(pip install -e '.[report]')") from None
    report = ClaimsReport(config, registry, out_dir, lang)
    config.pluginmanager.register(report, "spec-claims-report")
    return report


def addoption(group) -> None:
    group.addoption("--claims-report", dest="claims_report", default=None, metavar="DIR",
                    help="after the run, write the claims report to DIR (README.md, results.json, figures/)")
    group.addoption("--claims-report-lang", dest="claims_report_lang", default=os.environ.get("SPEC_REPORT_LANG", "en"),
                    help="language of the claims report: en or zh (default en; env SPEC_REPORT_LANG)")
