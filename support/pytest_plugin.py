"""The suite's pytest plugin (loaded by the root conftest.py through ``pytest_plugins``).

What it adds:
* ``@pytest.mark.claim("<id>")`` ties a test to a registered claim; ``@pytest.mark.meta`` marks a check of
  the suite itself. Every test under the spec directory carries one of them; an unknown id is a collection
  error of its module naming the id (test262-style lint): the run fails (serially it stops at collection;
  under xdist the other modules' tests still run).
* Claim coverage: ``claim_coverage`` (fixture) tells which registered claims have tests; the meta-test in
  ``spec/`` fails when one has none.
* Hypothesis profiles ``dev``, ``ci`` (derandomized, no deadline; the default) and ``thorough`` (10x the
  examples of ci), chosen with ``--hypothesis-profile`` or ``SPEC_HYPOTHESIS_PROFILE``.
* A ``device`` parameter on every test that asks for it: cpu always, cuda when available (``--device``
  narrows it); TF32 off, so float32 matmuls are real float32 on GPUs too.
* Torch threads: 1 per process, serial or xdist (``--torch-threads`` / ``SPEC_TORCH_THREADS`` override).
* Seeds: every test starts with the global RNGs seeded from its node id (stable across processes).
* ``figures`` fixture: measured figures attached to the test report (user_properties survive xdist).
* On failure, a "reproduce" section: the command that reruns the test alone, and the claim it checks.
* Start-up cost: the controller of an xdist run imports neither torch nor hypothesis (its header names the
  installed torch; the workers report what they ran with at the end), and every process moves its start-up
  objects out of the garbage collector's sight (``gc.freeze``) once collection is done.
"""

from __future__ import annotations

import fnmatch
import gc
import importlib
import importlib.metadata
import json
import math
import os
import random
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import report
from support.claims.model import ClaimRegistry, UnknownClaimError

# torch, numpy and hypothesis are imported where they are used: the controller of an xdist run runs no test
# and never needs them, and importing torch alone costs ~1 s there before any worker can start.

# ---------------------------------------------------------------- hypothesis profiles
CI_EXAMPLES = 25
PROFILE_NAMES = ("dev", "ci", "thorough")


def profile_settings() -> dict:
    """The suite's hypothesis profiles by name."""
    from hypothesis import HealthCheck, Phase, settings

    return {
        # Local iteration: random examples (a new corner each run), saved failures replayed from the database.
        "dev": settings(max_examples=10, deadline=None, print_blob=True),
        # The default: the same examples on every run and every worker, so a red run is reproducible.
        "ci": settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                       suppress_health_check=[HealthCheck.too_slow]),
        # Before a release or after a torch upgrade: 10x the examples of ci, random.
        "thorough": settings(max_examples=10 * CI_EXAMPLES, deadline=None, print_blob=True,
                             suppress_health_check=[HealthCheck.too_slow],
                             phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]),
    }


DEFAULT_PROFILE = "ci"
PROFILE_ENV = "SPEC_HYPOTHESIS_PROFILE"
THREADS_ENV = "SPEC_TORCH_THREADS"
DUMP_ENV = "SPEC_DUMP_CLAIMS"  # set by the coverage fallback: write collected claim ids there

_state_key = pytest.StashKey["SpecState"]()


@dataclass
class SpecState:
    registry: ClaimRegistry
    spec_dir: Path
    profile: str
    devices: list[str] | None  # None: an xdist controller with --device=auto (each worker decides)
    threads: int
    environment: dict | None  # torch version, device names, threads of the processes that run the tests
    covered: dict[str, list[str]] = field(default_factory=dict)  # claim id -> node ids
    collected_files: set[Path] = field(default_factory=set)


# ---------------------------------------------------------------- options and configuration
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption("--device", dest="spec_device", default="auto",
                    help="devices to run device tests on: 'auto' (cpu, plus cuda when available) or a "
                         "comma-separated list of cpu,cuda")
    group.addoption("--torch-threads", dest="spec_torch_threads", default=None,
                    help=f"torch threads per process, serial or xdist worker (default 1; env {THREADS_ENV})")
    report.addoption(group)
    parser.addini("claim_registry", "dotted path 'module:attribute' of the ClaimRegistry",
                  default="support.claims:REGISTRY")
    parser.addini("claim_spec_dir", "directory whose tests must each carry a claim or meta marker", default="spec")


def _load_registry(spec: str) -> ClaimRegistry:
    module_name, _, attr = spec.partition(":")
    try:
        registry = getattr(importlib.import_module(module_name), attr or "REGISTRY")
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"claim_registry = {spec!r} cannot be loaded: {exc}") from exc
    if not isinstance(registry, ClaimRegistry):
        raise pytest.UsageError(f"claim_registry = {spec!r} is a {type(registry).__name__}, not a ClaimRegistry")
    return registry


def _runs_tests(config: pytest.Config) -> bool:
    """False only in the controller of an xdist run: it hands the tests to workers and runs none itself."""
    controller = (not hasattr(config, "workerinput") and not config.getoption("collectonly")
                  and getattr(config.option, "dist", "no") != "no" and bool(getattr(config.option, "tx", None)))
    return not controller


def _devices(option: str, runs_tests: bool) -> list[str] | None:
    """The devices device tests run on; None in an xdist controller with 'auto' (each worker asks torch)."""
    if option == "auto":
        if not runs_tests:
            return None
        import torch

        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    devices = [d.strip() for d in option.split(",") if d.strip()]
    unknown = [d for d in devices if d not in ("cpu", "cuda")]
    if not devices or unknown:
        raise pytest.UsageError(f"--device={option!r}: expected 'auto' or a comma-separated list of cpu,cuda")
    if len(set(devices)) != len(devices):
        raise pytest.UsageError(f"--device={option!r} names a device twice")
    if "cuda" in devices:  # checked before any worker starts, so the run stops once, with this message
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--device asks for cuda, but torch.cuda.is_available() is False on this machine")
    return devices


def _profile(config: pytest.Config, runs_tests: bool) -> str:
    explicit = config.getoption("hypothesis_profile", default=None)
    name = explicit or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILE_NAMES:
        source = "--hypothesis-profile" if explicit else PROFILE_ENV
        raise pytest.UsageError(f"{source}={name!r} is not a profile of this suite; choose one of {sorted(PROFILE_NAMES)}")
    # hypothesis's own plugin loads an explicit --hypothesis-profile in every process, and with -v its header
    # names the loaded profile: in those cases hypothesis is imported anyway and our profile must be loaded there
    if runs_tests or explicit or config.getoption("verbose") > 0:
        from hypothesis import settings

        for profile_name, profile in profile_settings().items():
            settings.register_profile(profile_name, profile)
        settings.load_profile(name)
    return name


def _threads(config: pytest.Config, runs_tests: bool) -> int:
    raw = config.getoption("spec_torch_threads") or os.environ.get(THREADS_ENV)
    # One thread by default, serial or not: xdist workers each using every core oversubscribe the machine
    # (measured up to 10x slower on 2 cores), and the same thread count in every process makes serial and
    # parallel runs compute bit-identical figures (parallel reductions may add in another order).
    n = 1
    if raw is not None:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise pytest.UsageError(f"--torch-threads / {THREADS_ENV} must be a positive integer, got {raw!r}")
    if not runs_tests:
        return n
    import torch

    torch.set_num_threads(n)
    return torch.get_num_threads()


def _environment(devices: list[str]) -> dict:
    """What the tests of this process run with: torch version, device names, torch threads."""
    import torch

    return {
        "torch": str(torch.__version__),  # a plain str: the environment travels from xdist workers (execnet)
        "devices": [d if d == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})" for d in devices],
        "threads": torch.get_num_threads(),
    }


@pytest.hookimpl(tryfirst=True)  # registers the hypothesis profiles before hypothesis's plugin loads one
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the test checks the registered claim with this id (support.claims)")
    config.addinivalue_line("markers", "meta: the test checks the suite itself (registry, plugin, coverage)")
    runs_tests = _runs_tests(config)
    if runs_tests:
        import torch

        # TF32 would make float32 matmuls on Ampere+ GPUs ~1e-3 accurate; the tolerance policy assumes real float32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        _freeze_startup_objects()
    registry = _load_registry(config.getini("claim_registry"))
    spec_dir = (config.rootpath / config.getini("claim_spec_dir")).resolve()
    if not spec_dir.is_dir():  # else the marker lint and the coverage check would silently check nothing
        raise pytest.UsageError(f"claim_spec_dir = {config.getini('claim_spec_dir')!r}: {spec_dir} is not a directory")
    profile = _profile(config, runs_tests)
    devices = _devices(config.getoption("spec_device"), runs_tests)
    threads = _threads(config, runs_tests)
    config.stash[_state_key] = SpecState(
        registry=registry,
        spec_dir=spec_dir,
        profile=profile,
        devices=devices,
        threads=threads,
        environment=_environment(devices) if runs_tests else None,
    )
    report.configure(config, registry)


def spec_state(config: pytest.Config) -> SpecState:
    return config.stash[_state_key]


def spec_environment(config: pytest.Config) -> dict:
    """torch version, device names and torch threads of the processes that ran the tests (under xdist: as
    the first worker to finish reported them)."""
    st = spec_state(config)
    if st.environment is not None:
        return st.environment
    return {"torch": f"{importlib.metadata.version('torch')} (installed; no worker reported)",
            "devices": ["(no worker reported)"], "threads": st.threads}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: tell the controller what the tests ran with
        workeroutput["spec_environment"] = spec_state(session.config).environment


@pytest.hookimpl(optionalhook=True)  # an xdist hook, called in the controller as each worker ends
def pytest_testnodedown(node, error) -> None:
    st = spec_state(node.config)
    environment = getattr(node, "workeroutput", {}).get("spec_environment")
    if environment and st.environment is None:
        st.environment = environment


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = spec_state(config)
    threads = str(st.threads)
    if st.environment is not None:
        torch_version, names = st.environment["torch"], ", ".join(st.environment["devices"])
    else:  # the controller of an xdist run: it has not imported torch
        torch_version = importlib.metadata.version("torch")
        names = "cpu, plus cuda where the workers find it" if st.devices is None else ", ".join(st.devices)
    if config.getoption("numprocesses", default=None):
        threads += " per xdist worker"
    return [
        f"torch {torch_version}; devices: {names}; torch threads: {threads}; "
        f"hypothesis profile: {st.profile}; claims registered: {len(st.registry)}",
    ]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    st = spec_state(config)
    if not _runs_tests(config) and st.environment is not None:  # the header could not say it
        env = st.environment
        terminalreporter.write_line(f"xdist workers ran with torch {env['torch']}; devices: {', '.join(env['devices'])}; "
                                    f"torch threads: {env['threads']} per worker")


# ---------------------------------------------------------------- collection: claim markers
def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _marker_problems(item: pytest.Item, st: SpecState) -> list[str]:
    problems = []
    marks = list(item.iter_markers("claim"))
    for mark in marks:
        if len(mark.args) != 1 or mark.kwargs or not isinstance(mark.args[0], str):
            extra = f" {mark.kwargs!r}" if mark.kwargs else ""
            problems.append(f"{item.nodeid}: write the marker as @pytest.mark.claim('<id>'), got claim{mark.args!r}{extra}")
        elif mark.args[0] not in st.registry:
            problems.append(f"{item.nodeid}: {UnknownClaimError(mark.args[0], st.registry)}")
    if not marks and item.get_closest_marker("meta") is None and _under(item.path, st.spec_dir):
        problems.append(f"{item.nodeid}: a test in {st.spec_dir.name}/ needs @pytest.mark.claim('<id>') "
                        f"(or @pytest.mark.meta for a check of the suite itself)")
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Turn a bad claim marker into a collection error of its module: reported (under xdist too) with the id."""
    report = yield
    if report.passed and report.result:
        st = spec_state(collector.config)
        problems = [p for node in report.result if isinstance(node, pytest.Item) for p in _marker_problems(node, st)]
        if problems:
            report.outcome = "failed"
            report.longrepr = "claim markers:\n  " + "\n  ".join(problems)
            report.result = []
    return report


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so coverage sees every collected test
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    st = spec_state(config)
    for item in items:
        in_spec = _under(item.path, st.spec_dir)  # as the separate collection of the spec directory counts
        for mark in item.iter_markers("claim"):
            if in_spec:
                st.covered.setdefault(mark.args[0], []).append(item.nodeid)
            # travels with every report of the item, also from xdist workers, for the claims report
            item.user_properties.append(("claim", mark.args[0]))
        st.collected_files.add(item.path.resolve())
    dump = os.environ.get(DUMP_ENV)
    if dump:
        Path(dump).write_text(json.dumps(sorted(st.covered)), encoding="utf-8")


_startup_done = False


def _freeze_startup_objects() -> None:
    """Move the objects that exist now (torch, hypothesis, the spec modules, the collected items) out of the
    garbage collector's sight with ``gc.freeze()`` (https://docs.python.org/3/library/gc.html#gc.freeze).

    They live until the process ends, yet every full collection walked all of them: the ones triggered while
    hypothesis and the spec modules import, pytest's ``gc.collect()`` calls at the end of a session and the
    one at interpreter exit. Measured on 2 cores with torch 2.13, that was ~1.5 s of every process (serial,
    and each xdist worker). Objects the tests create are collected as usual, so unraisable exceptions from
    them are still reported. Done in the first session of a process only (not again in pytester's).
    """
    if not _startup_done:
        gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    global _startup_done
    _freeze_startup_objects()  # what collection added
    _startup_done = True


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
    st = spec_state(config)
    registered = tuple(st.registry)
    whole = _spec_test_files(config, st.spec_dir) <= st.collected_files and not any("::" in a for a in config.args)
    if whole:
        return ClaimCoverage(registered, frozenset(st.covered), "this session")
    return ClaimCoverage(registered, frozenset(_collect_claims_in_subprocess(config, st.spec_dir)),
                         f"a separate collection of {st.spec_dir}")


def _collect_claims_in_subprocess(config: pytest.Config, spec_dir: Path) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "claims.json"
        env = {**os.environ, DUMP_ENV: str(out)}
        env.pop("PYTEST_XDIST_WORKER", None)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(spec_dir)],
            cwd=config.rootpath, env=env, capture_output=True, text=True, timeout=300,
        )
        if not out.exists():
            raise RuntimeError(f"collecting {spec_dir} for claim coverage failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture
def claim_registry(request: pytest.FixtureRequest) -> ClaimRegistry:
    return spec_state(request.config).registry


@pytest.fixture(name="claim_coverage")
def claim_coverage_fixture(request: pytest.FixtureRequest) -> ClaimCoverage:
    return claim_coverage(request.config)


# ---------------------------------------------------------------- device, seeds, figures
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        st = spec_state(metafunc.config)
        if st.devices is None:  # an xdist controller that collects after all (--fixtures -n 2): ask torch now
            st.devices = _devices("auto", runs_tests=True)
        metafunc.parametrize("device", st.devices)


def node_seed(nodeid: str) -> int:
    """A seed derived from the test's node id: the same in every process (unlike hash())."""
    return zlib.crc32(nodeid.encode("utf-8"))


@pytest.fixture(autouse=True)
def _seeded_rngs(request: pytest.FixtureRequest):
    import numpy as np
    import torch

    seed = node_seed(request.node.nodeid)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    yield


class Figures:
    """Measured figures of one test, attached to its report as ("figure", {...}) user properties."""

    def __init__(self, node: pytest.Item):
        self._node = node

    def record(self, name: str, value, unit: str, *, note: str = "") -> float:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"figure name must be a non-empty string, got {name!r}")
        if not isinstance(unit, str):
            raise ValueError(f"figure {name!r}: unit must be a string ('1' for a pure number), got {unit!r}")
        torch = sys.modules.get("torch")  # a tensor can only come from a process that imported torch
        if torch is not None and isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"figure {name!r}: value must be a scalar, got a tensor of shape {tuple(value.shape)}")
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"figure {name!r}: value must be a number, got {value!r}")
        value = float(value)
        self._node.user_properties.append(
            ("figure", {"name": name, "value": value if math.isfinite(value) else str(value), "unit": unit, "note": note})
        )
        return value


    def series(self, name: str, x, y, *, plot: str, x_label: str, y_label: str, log_x: bool = False,
               log_y: bool = False, style: str = "line") -> None:
        """A curve for the claims report: series of one claim with the same ``plot`` title share one figure.

        Labels carry units, e.g. "depth (layers)". style: "line", "points" or "dashed" (a bound or reference).
        """
        xs, ys = _floats(f"series {name!r} x", x), _floats(f"series {name!r} y", y)
        if len(xs) != len(ys) or not xs:
            raise ValueError(f"series {name!r}: x and y must be non-empty and of equal length, got {len(xs)} and {len(ys)}")
        for label, value in (("name", name), ("plot", plot), ("x_label", x_label), ("y_label", y_label)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"series {name!r}: {label} must be a non-empty string, got {value!r}")
        if style not in SERIES_STYLES:
            raise ValueError(f"series {name!r}: style must be one of {SERIES_STYLES}, got {style!r}")
        self._node.user_properties.append(("series", {
            "name": name, "plot": plot, "x": xs, "y": ys, "x_label": x_label, "y_label": y_label,
            "log_x": bool(log_x), "log_y": bool(log_y), "style": style,
        }))


SERIES_STYLES = ("line", "points", "dashed")


def _floats(what: str, values) -> list[float]:
    if isinstance(values, (str, bytes)):  # iterable, and float("1") works: it would pass as digits
        raise ValueError(f"{what} must be a sequence of numbers, got a string {values!r}")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a sequence of numbers: {exc}") from None
    return [v if math.isfinite(v) else str(v) for v in out]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node)


# ---------------------------------------------------------------- failure reproducer
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        st = spec_state(item.config)
        lines = [f"pytest '{item.nodeid}' -p no:randomly --hypothesis-profile={st.profile} -n0"
                 + (f" --torch-threads={st.threads}" if st.threads != 1 else ""),
                 f"torch {st.environment['torch']}, devices {','.join(st.devices)}, torch threads {st.threads}"]
        for mark in item.iter_markers("claim"):
            claim = st.registry.get(mark.args[0]) if mark.args else None
            if claim is not None:
                lines.append(f"claim {claim.id} ({claim.verdict.value}): {claim.statement}")
        report.sections.append(("reproduce", "\n".join(lines)))
    return report
