"""Claim markers, their lint, claim coverage, and ``--claim ID``.

* ``@pytest.mark.claim("<id>")`` ties a test to a registered claim; ``@pytest.mark.meta`` marks a check of the
  suite itself. Every test under the spec directory carries one of them; an unknown id is a collection error of
  its module naming the id and close matches (test262-style lint): the run fails (serially it stops at collection;
  under xdist the other modules' tests still run).
* Claim coverage: the ``claim_coverage`` fixture tells which registered claims have tests; the meta-test in
  ``spec/`` fails when one has none. It counts the whole spec directory, also when ``-k`` or ``--claim`` narrows
  the run.
* ``--claim ID`` (repeatable) runs only the tests of those claims.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import support.pytest_plugin.records as records
from support.claims.schema import ClaimRegistry, UnknownClaimError

# ---------------------------------------------------------------- options
DUMP_ENV = "SPEC_DUMP_CLAIMS"  # set by the coverage fallback: write collected claim ids there


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption(
        "--claim",
        dest="spec_claims",
        action="append",
        default=[],
        metavar="ID",
        help="run only the tests of this claim (repeatable), e.g. --claim reduction.mean-is-sum-over-n",
    )
    parser.addini(
        "claim_registry", "dotted path 'module:attribute' of the ClaimRegistry", default="support.claims:REGISTRY"
    )
    parser.addini("claim_spec_dir", "directory whose tests must each carry a claim or meta marker", default="spec")


# ---------------------------------------------------------------- state
@dataclass
class ClaimsState:
    registry: ClaimRegistry
    spec_dir: Path
    selected: tuple[str, ...]  # --claim ids; empty: every claim
    covered: dict[str, list[str]] = field(default_factory=dict)  # claim id -> node ids in the spec directory
    collected_files: set[Path] = field(default_factory=set)


_state_key = pytest.StashKey[ClaimsState]()


def state(config: pytest.Config) -> ClaimsState:
    return config.stash[_state_key]


def registry(config: pytest.Config) -> ClaimRegistry:
    """The claim registry this run checks against (ini option ``claim_registry``)."""
    return state(config).registry


def _load_registry(spec: str) -> ClaimRegistry:
    module_name, _, attr = spec.partition(":")
    try:
        loaded = getattr(importlib.import_module(module_name), attr or "REGISTRY")
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"claim_registry = {spec!r} cannot be loaded: {exc}") from exc
    if not isinstance(loaded, ClaimRegistry):
        raise pytest.UsageError(f"claim_registry = {spec!r} is a {type(loaded).__name__}, not a ClaimRegistry")
    return loaded


# ---------------------------------------------------------------- configure
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the test checks the registered claim with this id (support.claims)")
    config.addinivalue_line("markers", "meta: the test checks the suite itself (registry, plugin, coverage)")
    loaded = _load_registry(config.getini("claim_registry"))
    spec_dir = (config.rootpath / config.getini("claim_spec_dir")).resolve()
    if not spec_dir.is_dir():  # else the marker lint and the coverage check would silently check nothing
        raise pytest.UsageError(f"claim_spec_dir = {config.getini('claim_spec_dir')!r}: {spec_dir} is not a directory")
    selected = tuple(config.getoption("spec_claims") or ())
    for claim_id in selected:
        if claim_id not in loaded:
            raise pytest.UsageError(f"--claim {claim_id}: {UnknownClaimError(claim_id, loaded)}")
    config.stash[_state_key] = ClaimsState(registry=loaded, spec_dir=spec_dir, selected=selected)


# ---------------------------------------------------------------- collection: the marker lint, --claim
def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _marker_problems(item: pytest.Item, st: ClaimsState) -> list[str]:
    problems = []
    marks = list(item.iter_markers("claim"))
    for mark in marks:
        if len(mark.args) != 1 or mark.kwargs or not isinstance(mark.args[0], str):
            extra = f" {mark.kwargs!r}" if mark.kwargs else ""
            problems.append(
                f"{item.nodeid}: write the marker as @pytest.mark.claim('<id>'), got claim{mark.args!r}{extra}"
            )
        elif mark.args[0] not in st.registry:
            problems.append(f"{item.nodeid}: {UnknownClaimError(mark.args[0], st.registry)}")
    if not marks and item.get_closest_marker("meta") is None and _under(item.path, st.spec_dir):
        problems.append(
            f"{item.nodeid}: a test in {st.spec_dir.name}/ needs @pytest.mark.claim('<id>') "
            f"(or @pytest.mark.meta for a check of the suite itself)"
        )
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Turn a bad claim marker into a collection error of its module: reported (under xdist too) with the id."""
    report = yield
    if report.passed and report.result:
        st = state(collector.config)
        problems = [p for node in report.result if isinstance(node, pytest.Item) for p in _marker_problems(node, st)]
        if problems:
            report.outcome = "failed"
            report.longrepr = "claim markers:\n  " + "\n  ".join(problems)
            report.result = []
    return report


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so coverage sees every collected test
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    st = state(config)
    for item in items:
        in_spec = _under(item.path, st.spec_dir)  # as the separate collection of the spec directory counts
        for mark in item.iter_markers("claim"):
            if in_spec:
                st.covered.setdefault(mark.args[0], []).append(item.nodeid)
            # travels with every report of the item, also from xdist workers, for the claims report
            records.add(item.user_properties, records.CLAIM, mark.args[0])
        st.collected_files.add(item.path.resolve())
    dump = os.environ.get(DUMP_ENV)
    if dump:
        Path(dump).write_text(json.dumps(sorted(st.covered)), encoding="utf-8")
    if st.selected:
        keep, drop = [], []
        for item in items:
            ids = {mark.args[0] for mark in item.iter_markers("claim") if mark.args}
            (keep if ids & set(st.selected) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


# ---------------------------------------------------------------- coverage
@dataclass(frozen=True)
class ClaimCoverage:
    registered: tuple[str, ...]
    covered: frozenset[str]
    source: str  # "this session" or "a separate collection of <dir>"

    @property
    def uncovered(self) -> list[str]:
        return [c for c in self.registered if c not in self.covered]


def _spec_test_files(config: pytest.Config, spec_dir: Path) -> set[Path]:
    patterns = config.getini("python_files")
    return {p.resolve() for p in spec_dir.rglob("*.py") if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)}


def claim_coverage(config: pytest.Config) -> ClaimCoverage:
    """Which registered claims have at least one test in the spec directory.

    When this session collected the whole spec directory, its own collection answers; when it was narrowed
    (a file or node id given on the command line), a separate ``--collect-only`` run of the directory does.
    """
    st = state(config)
    registered = tuple(st.registry)
    whole = _spec_test_files(config, st.spec_dir) <= st.collected_files and not any("::" in a for a in config.args)
    if whole:
        return ClaimCoverage(registered, frozenset(st.covered), "this session")
    return ClaimCoverage(
        registered,
        frozenset(_collect_claims_in_subprocess(config, st.spec_dir)),
        f"a separate collection of {st.spec_dir}",
    )


def _collect_claims_in_subprocess(config: pytest.Config, spec_dir: Path) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "claims.json"
        env = {**os.environ, DUMP_ENV: str(out)}
        env.pop("PYTEST_XDIST_WORKER", None)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(spec_dir)],
            cwd=config.rootpath,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if not out.exists():
            raise pytest.UsageError(
                f"collecting {spec_dir} for claim coverage failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return json.loads(out.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def claim_registry(request: pytest.FixtureRequest) -> ClaimRegistry:
    return registry(request.config)


@pytest.fixture(name="claim_coverage")
def claim_coverage_fixture(request: pytest.FixtureRequest) -> ClaimCoverage:
    return claim_coverage(request.config)


# ---------------------------------------------------------------- report
def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"claims registered: {len(registry(config))}"]
