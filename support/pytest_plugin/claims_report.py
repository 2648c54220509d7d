"""``--claims-report=DIR`` (``--claims-report-lang=en|zh``) and the "claims" section of the terminal summary.

The collector runs where the test reports arrive (the controller under xdist): it turns each report of a claim test
into a ``support.report.TestRecord`` (figures and series ride on ``user_properties``, so they arrive from workers
too) and, at the end of the session, builds the report and writes it with the ``support.report`` library.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path

import pytest

from support import report as report_lib
from support.errors import SpecInputError
from support.pytest_plugin import records, runtime
from support.pytest_plugin._xdist import is_xdist_worker
from support.pytest_plugin.claims import registry
from support.pytest_plugin.profiles import profile_name

# ---------------------------------------------------------------- options
LANG_ENV = "SPEC_REPORT_LANG"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption(
        "--claims-report",
        dest="claims_report",
        default=None,
        metavar="DIR",
        help="after the run, write the claims report to DIR (README.md, results.json, figures/)",
    )
    group.addoption(
        "--claims-report-lang",
        dest="claims_report_lang",
        default=os.environ.get(LANG_ENV, "en"),
        help=f"language of the claims report: en or zh (default en; env {LANG_ENV})",
    )


# ---------------------------------------------------------------- configure
def pytest_configure(config: pytest.Config) -> None:
    raw = config.getoption("claims_report")
    lang = config.getoption("claims_report_lang")
    if lang not in report_lib.LANGS:
        source = LANG_ENV if lang == os.environ.get(LANG_ENV) else "--claims-report-lang"
        raise pytest.UsageError(f"{source}={lang!r}: expected one of {report_lib.LANGS}")
    out_dir = None
    if raw is not None:
        out_dir = Path(raw).expanduser().resolve()
        if not is_xdist_worker(config):
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
            raise pytest.UsageError(
                "--claims-report needs matplotlib: install the project with the 'report' extra "
                "(pip install -e '.[report]')"
            ) from None
    config.pluginmanager.register(ClaimsReportCollector(config, out_dir, lang), "spec-claims-report")


# ---------------------------------------------------------------- state and the run and report hooks: the collector
def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


class ClaimsReportCollector:
    """Collects every claim test's report and writes the claims report at the end of the session."""

    def __init__(self, config: pytest.Config, out_dir: Path | None, lang: str):
        self.config = config
        self.out_dir = out_dir
        self.lang = lang
        self.tests: dict[str, report_lib.TestRecord] = {}
        self.error: str | None = None
        self.data: dict | None = None  # the report as written (built once, in pytest_sessionfinish)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        claims = records.records(report.user_properties, records.CLAIM)
        if not claims:
            return
        rec = self.tests.setdefault(report.nodeid, report_lib.TestRecord(report.nodeid, claims=sorted(set(claims))))
        rec.duration += report.duration
        if report.when == "call" or (report.when == "setup" and report.skipped):
            rec.figures = records.records(report.user_properties, records.FIGURE)
            rec.series = records.records(report.user_properties, records.SERIES)
        # a model check (support.pytest_plugin.your_model): its tag and the check's own message
        rec.check = records.last(report.user_properties, records.CHECK, rec.check)
        rec.check_result = records.last(report.user_properties, records.CHECK_RESULT, rec.check_result)
        if report.failed:
            rec.outcome = "failed"
            rec.message = report_lib.first_lines(report.longreprtext)
        elif report.skipped and rec.outcome != "failed":
            rec.outcome = "skipped"
            rec.message = _skip_reason(report)

    def environment(self) -> dict:
        env = runtime.environment(self.config)
        return {
            "date": _dt.date.today().isoformat(),
            "torch": env["torch"],
            "devices": env["devices"],
            "python": platform.python_version(),
            "hypothesis_profile": profile_name(self.config),
        }

    def build(self, benchmarks: list[dict] = ()) -> dict:
        return report_lib.build_report(
            registry(self.config), list(self.tests.values()), self.environment(), list(benchmarks)
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the report (only with --claims-report: the benchmark results are read here and nowhere else, so a
        plain run never depends on bench/results). The terminal summary, which comes after, reuses what was built."""
        if self.out_dir is None or is_xdist_worker(self.config):
            return
        if not self.tests:
            self.error = (
                f"--claims-report={self.out_dir}: no test checking a claim ran, so there is nothing to "
                f"report (give the spec directory, or a selection that includes claim tests)"
            )
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        root = self.config.rootpath
        try:
            benchmarks = report_lib.load_benchmarks(root / report_lib.BENCH_RESULTS, root)
        except SpecInputError as exc:
            self.error = f"--claims-report={self.out_dir}: {exc}; the report was not written"
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        self.data = self.build(benchmarks)
        report_lib.write_report(self.data, registry(self.config), self.out_dir, self.lang, root=root)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if is_xdist_worker(config):
            return
        tr = terminalreporter
        if not self.tests:
            if self.error:
                tr.write_line(f"ERROR: {self.error}", red=True)
            return
        data = self.data if self.data is not None else self.build()  # the summary needs no benchmarks
        counts = data["counts"]
        if counts["claims_checked"] == 0 and not self.error:  # only model checks ran: their own summary says it all
            if self.out_dir is not None:
                tr.write_line(f"claims report written to {self.out_dir / 'README.md'}")
            return
        tr.section("claims")
        # the claims of this run: a run narrowed with -k, --claim or a path checks some claims, not the registry
        tr.write_line(
            f"claims checked in this run: {counts['claims_checked']} of {counts['claims_registered']} registered"
        )
        tr.write_line(
            "by verdict: " + ", ".join(f"{n} {verdict}" for verdict, n in counts["checked_by_verdict"].items())
        )
        status = counts["claims_by_status"]
        tr.write_line(f"supported by this run: {status['supported']}; failing: {status['failing']}")
        for c in data["claims"]:
            if c["status"] == "failing":
                failed = [t["nodeid"] for t in c["tests"] if t["outcome"] == "failed"]
                tr.write_line(
                    f"FAILING CLAIM {c['id']} ({c['verdict']}): {len(failed)} failed test(s), first {failed[0]}",
                    red=True,
                )
        if self.error:
            tr.write_line(f"ERROR: {self.error}", red=True)
        elif self.out_dir is not None:
            tr.write_line(f"claims report written to {self.out_dir / 'README.md'}")
