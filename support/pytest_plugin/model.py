"""``--model=PACKAGE.MODULE:FACTORY`` (or ``SPEC_MODEL``): run spec/part6_your_model on the user's own model.

* The option names a factory (``support.model_check.subject``); it is imported, called and validated once, in
  ``pytest_configure`` of the process that starts the run (the controller under xdist, which then imports torch:
  importing the user's module does that anyway). Any problem -- an unknown module or attribute, a factory that
  raises, a missing or wrong-typed field, a batch of fewer than 2 samples, a forward or loss that fails on the
  batch -- is one ``pytest.UsageError`` naming it, before any worker starts. Workers load the factory again
  without re-running the forward. The directory pytest runs from is put on ``sys.path`` first, as
  ``python -m`` does, so ``--model=examples.tiny_classifier:make`` works from the repository root.
* Without ``--model`` the same tests run on the suite's reference models (``support.model_check.references``),
  and no process imports anything for it before the tests need it.
* The ``model_under_test`` fixture is parametrized over the subjects (ids: their names) and gives each test a
  fresh copy on the test's ``device``. ``record_check(result, figures)`` keeps a check's verdict, message and
  measured numbers in the test report (and skips a check that does not apply, with its reason).
* Tests that use ``model_under_test`` are tagged ``("check", {...})`` in ``user_properties``: their module's name
  (the check id), the first line of its docstring (``check: <title>``), the subject and the device. The claims
  report lists them in its "Your model" section; the terminal summary lists their verdicts when ``--model`` is given.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.model_check import REFERENCE_NAMES
from support.pytest_plugin._xdist import is_xdist_worker

MODEL_ENV = "SPEC_MODEL"
FIXTURE = "model_under_test"


@dataclass
class ModelState:
    spec: str | None  # the --model value; None: the reference models
    names: tuple[str, ...]
    subjects: dict = field(default_factory=dict)  # name -> ModelUnderTest, loaded on first use in this process
    verdicts: list[tuple[str, str, str, str]] = field(default_factory=list)  # (subject, check id, title, outcome)


_state_key = pytest.StashKey[ModelState]()


def state(config: pytest.Config) -> ModelState:
    return config.stash[_state_key]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption("--model", dest="spec_model", default=None, metavar="PACKAGE.MODULE:FACTORY",
                    help=f"run spec/part6_your_model on your model: FACTORY() returns model, inputs, targets, loss "
                         f"(and optionally optimizer, n_classes, name, frozen); env {MODEL_ENV}")


def _load(config: pytest.Config, spec: str, *, run_forward: bool):
    from support.errors import SpecInputError
    from support.model_check.subject import load_subject

    for path in (str(Path.cwd()), str(config.rootpath)):  # as `python -m` does: the working directory first
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return load_subject(spec, run_forward=run_forward)
    except SpecInputError as exc:
        raise pytest.UsageError(f"--model={spec}: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    spec = config.getoption("spec_model") or os.environ.get(MODEL_ENV) or None
    if spec is None:
        config.stash[_state_key] = ModelState(spec=None, names=REFERENCE_NAMES)
        return
    # validated once, where the run starts; an xdist worker only reloads what the controller already ran
    subject = _load(config, spec, run_forward=not is_xdist_worker(config))
    config.stash[_state_key] = st = ModelState(spec=spec, names=(subject.name,), subjects={subject.name: subject})
    config.pluginmanager.register(_Verdicts(st), "spec-model-verdicts")


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = state(config)
    if st.spec is None:
        return []
    subject = st.subjects[st.names[0]]
    n_params = sum(p.numel() for p in subject.model.parameters())
    return [f"model under test: {subject.name} ({st.spec}; {type(subject.model).__name__}, {n_params:,} parameters, "
            f"batch of {subject.batch_size})"]


def subject(config: pytest.Config, name: str):
    """The subject ``name`` as loaded (on the CPU), once per process."""
    st = state(config)
    if name not in st.subjects:
        from support.model_check.references import reference

        st.subjects[name] = reference(name)
    return st.subjects[name]


def _test_id(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        names = state(metafunc.config).names
        metafunc.parametrize(FIXTURE, names, indirect=True, ids=[_test_id(n) for n in names])


@pytest.fixture
def model_under_test(request: pytest.FixtureRequest, device: str):
    """A fresh copy of the subject (the user's model with --model, else one reference model) on ``device``."""
    return subject(request.config, request.param).to(device)


@pytest.fixture
def record_check(request: pytest.FixtureRequest):
    """``record_check(result, figures)``: keep a check's verdict, message and numbers in the test report; a check
    that does not apply skips the test with its reason."""
    def record(result, figures=None) -> None:
        request.node.user_properties.append(("check_result", {"verdict": result.verdict, "message": result.message}))
        if figures is not None:
            from support.model_check.checks import NUMBER_NAMES_ZH
            from support.report.text import UNITS_ZH

            for name, (value, unit) in result.numbers.items():
                if name not in NUMBER_NAMES_ZH:
                    raise KeyError(f"check {result.check!r}: number {name!r} has no Chinese name in "
                                   f"support.model_check.checks.NUMBER_NAMES_ZH")
                if unit != "1" and unit not in UNITS_ZH:  # "1": dimensionless, in the report's own words
                    raise KeyError(f"check {result.check!r}: number {name!r} has unit {unit!r}, which has no Chinese "
                                   f"entry in support.report.text.UNITS_ZH")
                figures.record(name, value, unit, zh=NUMBER_NAMES_ZH[name])
        if result.verdict == "n/a":
            pytest.skip(f"does not apply to {request.node.callspec.params[FIXTURE]}: {result.message}")
    return record


def _check_of(item: pytest.Item) -> dict | None:
    if FIXTURE not in getattr(item, "fixturenames", ()):
        return None
    module = getattr(item, "module", None)
    doc = (getattr(module, "__doc__", None) or "").strip().splitlines()
    title = doc[0].removeprefix("check:").strip() if doc else item.path.stem
    params = item.callspec.params
    return {"id": item.path.stem.removeprefix("test_").replace("_", "-"), "title": title,
            "subject": str(params[FIXTURE]), "device": str(params.get("device", "cpu")),
            "reference": state(item.config).spec is None}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag the model checks, and run them in the order of the checks (support.report.text.CHECK_ORDER: gradients,
    step, mean, coupling, per-sample, init loss, softmax, gradient norms, overfitting), in the slots they hold."""
    from support.report.text import CHECK_ORDER

    rank = {check_id: i for i, check_id in enumerate(CHECK_ORDER)}
    slots, tagged = [], []
    for i, item in enumerate(items):
        check = _check_of(item)
        if check is not None:
            item.user_properties.append(("check", check))
            slots.append(i)
            tagged.append((rank.get(check["id"], len(rank)), i, item))
    for slot, (_, _, item) in zip(slots, sorted(tagged, key=lambda t: t[:2])):
        items[slot] = item


class _Verdicts:
    """Collects each check's outcome where the reports arrive (the controller under xdist) for the summary."""

    def __init__(self, st: ModelState):
        self.st = st

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and not report.passed):
            return
        check = next((v for k, v in report.user_properties if k == "check"), None)
        if check is not None:
            self.st.verdicts.append((check["subject"], check["id"], check["title"], report.outcome))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    st = state(config)
    if st.spec is None or is_xdist_worker(config) or not st.verdicts:
        return
    from support.report.text import CHECK_ORDER

    rank = {check_id: i for i, check_id in enumerate(CHECK_ORDER)}
    terminalreporter.section(f"your model: {st.names[0]}")
    for _subject_name, _, title, outcome in sorted(st.verdicts, key=lambda v: (rank.get(v[1], len(rank)), v[1])):
        word = {"passed": "PASS", "failed": "FAIL", "skipped": "n/a "}[outcome]
        terminalreporter.write_line(f"{word}  {title}", red=outcome == "failed", green=outcome == "passed")
