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
* The ``model_under_test`` fixture is parametrized over the subjects (ids: their names) and gives each test the
  subject on the test's ``device``: the user's own model, which each check puts back as it found it.
  ``record_check(result, figures)`` keeps a check's outcome, message, note and measured numbers in the test report
  (and skips a check that does not apply, or could not run on a user's model, with its reason).
* Tests that use ``model_under_test`` are tagged ``("check", {...})`` in ``user_properties``: the check id (their
  module is ``test_<id>``), its title from the catalog (``support.model_check.catalog``), the subject and the
  device. The claims report lists them in its "Your model" section; under ``--model`` the terminal summary prints one
  line per check: its outcome, title and note.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import support.pytest_plugin.records as records
from support.model_check import REFERENCE_NAMES
from support.pytest_plugin._xdist import is_xdist_worker
from support.pytest_plugin.records import CheckResultRecord, CheckTag

# ---------------------------------------------------------------- options
MODEL_ENV = "SPEC_MODEL"
FIXTURE = "model_under_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption(
        "--model",
        dest="spec_model",
        default=None,
        metavar="PACKAGE.MODULE:FACTORY",
        help=f"run spec/part6_your_model on your model: FACTORY() returns model, inputs, targets, loss "
        f"(and optionally optimizer, n_classes, name, frozen); env {MODEL_ENV}",
    )


# ---------------------------------------------------------------- state: the subjects, loaded once per process
@dataclass
class ModelState:
    spec: str | None  # the --model value; None: the reference models
    names: tuple[str, ...]
    subjects: dict = field(default_factory=dict)  # name -> ModelUnderTest, loaded on first use in this process
    # (subject, check id, title, outcome, note): what the terminal summary prints under --model
    verdicts: list[tuple[str, str, str, str, str]] = field(default_factory=list)


_state_key = pytest.StashKey[ModelState]()


def state(config: pytest.Config) -> ModelState:
    return config.stash[_state_key]


def subject(config: pytest.Config, name: str):
    """The subject ``name`` as loaded (on the CPU), once per process."""
    st = state(config)
    if name not in st.subjects:
        from support.model_check.references import reference

        st.subjects[name] = reference(name)
    return st.subjects[name]


def _load(config: pytest.Config, spec: str, *, run_forward: bool):
    from support.errors import SpecInputError
    from support.model_check.validation import load_subject

    for path in (str(Path.cwd()), str(config.rootpath)):  # as `python -m` does: the working directory first
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return load_subject(spec, run_forward=run_forward)
    except SpecInputError as exc:
        raise pytest.UsageError(f"--model={spec}: {exc}") from None


# ---------------------------------------------------------------- configure
def pytest_configure(config: pytest.Config) -> None:
    spec = config.getoption("spec_model") or os.environ.get(MODEL_ENV) or None
    if spec is None:
        config.stash[_state_key] = ModelState(spec=None, names=REFERENCE_NAMES)
        return
    # validated once, where the run starts; an xdist worker only reloads what the controller already ran
    subject = _load(config, spec, run_forward=not is_xdist_worker(config))
    config.stash[_state_key] = st = ModelState(spec=spec, names=(subject.name,), subjects={subject.name: subject})
    config.pluginmanager.register(_Verdicts(st), "spec-model-verdicts")


# ---------------------------------------------------------------- collection: one test per subject, the checks tagged
def _test_id(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        names = state(metafunc.config).names
        metafunc.parametrize(FIXTURE, names, indirect=True, ids=[_test_id(n) for n in names])


def _check_of(item: pytest.Item) -> CheckTag | None:
    """The check a test runs: its module's name is test_<check id> (support.model_check.catalog)."""
    if FIXTURE not in getattr(item, "fixturenames", ()):
        return None
    from support.model_check.catalog import info

    entry = info(item.path.stem.removeprefix("test_").replace("_", "-"))
    params = item.callspec.params
    return CheckTag(
        id=entry.id,
        title=entry.title,
        subject=str(params[FIXTURE]),
        device=str(params.get("device", "cpu")),
        reference=state(item.config).spec is None,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag the model checks, and run them in the catalog's order (support.model_check.catalog), in the slots they
    hold."""
    from support.model_check.catalog import CHECK_IDS

    rank = {check_id: i for i, check_id in enumerate(CHECK_IDS)}
    slots, tagged = [], []
    for i, item in enumerate(items):
        check = _check_of(item)
        if check is not None:
            records.add(item.user_properties, records.CHECK, check)
            slots.append(i)
            tagged.append((rank.get(check["id"], len(rank)), i, item))
    for slot, (_, _, item) in zip(slots, sorted(tagged, key=lambda t: t[:2])):
        items[slot] = item


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def model_under_test(request: pytest.FixtureRequest, device: str):
    """The subject (the user's model with --model, else one reference model) on ``device``: its own model, moved
    there in place (hooks and an optimizer factory that closes over the model keep working); each check puts the
    model back as it found it (``support.model_check.runner.run_check``)."""
    loaded = subject(request.config, request.param)
    yield loaded.on(device)
    if device != "cpu":
        loaded.on("cpu")


@pytest.fixture
def record_check(request: pytest.FixtureRequest):
    """``record_check(result, figures)``: keep a check's outcome, message, note and numbers in the test report. A
    check that does not apply skips the test with its reason; a check that could not run on the model skips it with
    the error under --model (it says nothing about the user's model) and fails it on the suite's reference models
    (where it is the suite's own bug)."""

    def record(result, figures=None) -> None:
        from support.model_check.checks.result import Outcome

        note = result.note
        records.add(
            request.node.user_properties,
            records.CHECK_RESULT,
            CheckResultRecord(
                outcome=result.outcome.value,
                message=result.message.en,
                message_zh=result.message.zh,
                note=note.en if note else "",
                note_zh=note.zh if note else "",
            ),
        )
        if figures is not None:
            for name, (value, unit) in result.numbers.items():
                figures.record(name, value, unit, zh=result.check.number(name).zh)
        name = request.node.callspec.params[FIXTURE]
        if result.outcome is Outcome.NOT_APPLICABLE:
            pytest.skip(f"does not apply to {name}: {result.message.en}")
        if result.outcome is Outcome.COULD_NOT_RUN:
            if state(request.config).spec is None:
                pytest.fail(f"a check could not run on the reference model {name}: {result.message.en}")
            pytest.skip(f"could not run on {name}: {result.message.en}")

    return record


# ---------------------------------------------------------------- run and report: header, verdicts, summary
def pytest_report_header(config: pytest.Config) -> list[str]:
    st = state(config)
    if st.spec is None:
        return []
    subject = st.subjects[st.names[0]]
    n_params = sum(p.numel() for p in subject.model.parameters())
    return [
        f"model under test: {subject.name} ({st.spec}; {type(subject.model).__name__}, {n_params:,} parameters, "
        f"batch of {subject.batch_size})"
    ]


def first_sentence(text: str) -> str:
    """The first sentence of a message or note (the rest is in the failure's explanation and the report)."""
    text = " ".join(text.split())
    end = re.search(r"(?<!\be\.g)(?<!\bi\.e)\. ", text)  # "e.g. " and "i.e. " end no sentence
    return text if end is None else text[: end.start() + 1]


OUTCOME_WORDS = {"pass": "PASS", "fail": "FAIL", "n/a": "n/a", "could not run": "could not run"}


class _Verdicts:
    """Collects each check's outcome and note where the reports arrive (the controller under xdist) for the
    summary."""

    def __init__(self, st: ModelState):
        self.st = st

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and not report.passed):
            return
        check = records.last(report.user_properties, records.CHECK)
        if check is None:
            return
        result = records.last(report.user_properties, records.CHECK_RESULT)
        if result is not None:
            outcome, note = result["outcome"], result["note"] or ""
            if outcome == "fail" or report.failed:
                outcome, note = "fail", result["message"]
            elif outcome in ("could not run", "n/a"):
                note = result["message"]
        else:  # the test failed before its check returned
            outcome, note = ("fail", "") if report.failed else (report.outcome, "")
        self.st.verdicts.append((check["subject"], check["id"], check["title"], outcome, note))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    st = state(config)
    if st.spec is None or is_xdist_worker(config) or not st.verdicts:
        return
    from support.model_check.catalog import CHECK_IDS

    rank = {check_id: i for i, check_id in enumerate(CHECK_IDS)}
    terminalreporter.section(f"your model: {st.names[0]}")
    ordered = sorted(st.verdicts, key=lambda v: (rank.get(v[1], len(rank)), v[1]))
    for _subject, _check_id, title, outcome, note in ordered:
        word = OUTCOME_WORDS.get(outcome, outcome)
        line = f"{word:<4}  {title}" + (f" -- {first_sentence(note)}" if note else "")
        terminalreporter.write_line(
            line, red=outcome == "fail", green=outcome == "pass", yellow=outcome == "could not run"
        )
