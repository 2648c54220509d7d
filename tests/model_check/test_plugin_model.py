"""--model end to end on throw-away projects (pytester): every check runs on the user's model, a failing check says
what is wrong once, a bad factory is one usage error, the terminal prints one line per check with its note, and the
claims report gains a "Your model" section."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from support.model_check.runner import CHECKS
from tests.pytest_helpers import spec_project

# ================================================================ --model end to end (pytester)
PART6 = Path(__file__).resolve().parents[2] / "spec" / "part6_your_model"
USER_MODULE = """
import torch
from torch import nn

def _fields(model):
    g = torch.Generator().manual_seed(0)
    return {"model": model, "inputs": torch.randn(6, 5, generator=g), "targets": torch.randint(0, 3, (6,), generator=g),
            "loss": nn.CrossEntropyLoss(), "optimizer": lambda p: torch.optim.Adam(p, lr=3e-2)}

def make():
    torch.manual_seed(0)
    return dict(_fields(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))), name="mine")

def with_softmax():
    torch.manual_seed(0)
    return dict(_fields(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=1))),
                name="softmaxed")

def one_sample():
    fields = make()
    return dict(fields, inputs=fields["inputs"][:1], targets=fields["targets"][:1])

def raises():
    raise KeyError("dataset path")

def bad_forward():
    return dict(make(), model=nn.Linear(7, 3))  # the batch has 5 features
"""


@pytest.fixture(scope="module")
def _optimizer_step_imported():
    """An optimizer step imports torch._dynamo on first use. Done inside an in-process run, or after pytester took
    its snapshot of sys.modules, those modules are dropped afterwards and the next run registers their operators
    twice (a RuntimeError): import them once, before any pytester fixture (a module-scoped fixture comes first)."""
    warm = torch.zeros(1, requires_grad=True)
    warm.grad = torch.ones(1)
    torch.optim.Adam([warm], lr=0.1).step()


@pytest.fixture
def user_project(_optimizer_step_imported, pytester: pytest.Pytester, request: pytest.FixtureRequest):
    """A project with the suite's plugin and registry, part 6 of the spec and a user module with factories."""
    with spec_project(pytester, request, None) as project:
        target = project.path / "spec" / "part6_your_model"
        target.mkdir()
        for path in PART6.glob("*.py"):
            (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        project.makepyfile(user_model=USER_MODULE)
        yield project


def test_model_option_runs_every_check_on_the_user_model(user_project):
    result = user_project.runpytest_inprocess("--model=user_model:make", "--device=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(CHECKS))
    result.stdout.fnmatch_lines(
        [
            "model under test: mine (user_model:make; Sequential, 147 parameters, batch of 6)",
            "*your model: mine*",
            "PASS  every trainable parameter gets a finite gradient from one batch backward",
            "PASS  the model can overfit one batch",
        ]
    )
    out = result.stdout.str()
    assert "claims checked in this run" not in out  # a part-6 run checks the model, not the claims


def test_a_failing_check_says_what_is_wrong_once(user_project, monkeypatch):
    monkeypatch.setenv("SPEC_MODEL", "user_model:with_softmax")  # the environment variable works like --model
    result = user_project.runpytest_inprocess("--device=cpu", "-p", "no:cacheprovider")
    # the softmax check fails, and so does overfitting: the loss cannot fall below log(1 + (C-1)/e)
    result.assert_outcomes(passed=len(CHECKS) - 2, failed=2)
    out = result.stdout.str()
    assert out.count("_ test_the_model_returns_logits_to_cross_entropy[softmaxed-cpu] _") == 1
    # counted on pytest's "E   " explanation lines: the short summary repeats the message as far as the terminal
    # is wide (COLUMNS), so a count over the whole output would depend on the terminal
    explained = [
        line
        for line in out.splitlines()
        if line.startswith("E ") and "the model's outputs are probabilities (every row" in line
    ]
    assert len(explained) == 1, explained
    result.stdout.fnmatch_lines(["*your model: softmaxed*"])
    result.stdout.fnmatch_lines(["FAIL  no softmax before CrossEntropyLoss -- the model's outputs are probabilities*"])
    result.stdout.fnmatch_lines(["FAIL  the model can overfit one batch -- the model does not fit one batch*"])
    # the reproducer names the model (the node id [softmaxed-cpu] exists only with it) and the device
    result.stdout.fnmatch_lines(
        [
            "pytest '*test_the_model_returns_logits_to_cross_entropy[[]softmaxed-cpu[]]' * "
            "--device=cpu --model=user_model:with_softmax"
        ]
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user_model", "expected PACKAGE.MODULE:FACTORY"),
        ("no_module_here:make", "cannot import module 'no_module_here'"),
        ("user_model:maek", "'user_model' has no attribute 'maek'; did you mean 'make'?"),
        ("user_model:raises", "the factory user_model:raises raised KeyError: 'dataset path'"),
        ("user_model:one_sample", "the batch has 1 sample(s); the checks need at least 2"),
        (
            "user_model:bad_forward",
            "the model's forward fails on the batch: RuntimeError: mat1 and mat2 shapes cannot be "
            "multiplied (6x5 and 7x3)",
        ),
    ],
)
def test_bad_model_options_are_one_usage_error(user_project, spec, message):
    result = user_project.runpytest_inprocess(f"--model={spec}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"ERROR: --model={spec}: " in err and message in err
    assert err.count("ERROR:") == 1


def test_under_xdist_a_bad_model_stops_the_run_once_before_any_worker_starts(user_project):
    result = user_project.runpytest_subprocess("-n", "2", "--model=user_model:raises", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("raised KeyError: 'dataset path'") == 1


def test_the_claims_report_gains_a_your_model_section(user_project):
    result = user_project.runpytest_inprocess(
        "--model=user_model:with_softmax", "--device=cpu", "-p", "no:cacheprovider", "--claims-report=report"
    )
    result.assert_outcomes(passed=len(CHECKS) - 2, failed=2)
    assert "FAILING CLAIM" not in result.stdout.str()  # a model's failure is not the claim's
    readme = (user_project.path / "report" / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your model") :]
    assert "- Models checked: `softmaxed`" in section and "reference models" not in section
    assert "| no softmax before CrossEntropyLoss | FAIL |" in section
    assert "the model's outputs are probabilities" in section
    assert "![gradient norms per layer at init: softmaxed](figures/" in section
    assert "![overfitting one batch: softmaxed](figures/" in section


def test_a_check_that_could_not_run_skips_on_a_user_model_and_fails_on_a_reference(user_project, monkeypatch):
    import support.model_check.checks.samples_are_independent as check_4

    def broken_chart(*args, **kwargs):
        raise RuntimeError("the chart's own failure")

    monkeypatch.setattr(check_4, "dependency_matrix", broken_chart)
    mine = user_project.runpytest_inprocess(
        "--model=user_model:make", "--device=cpu", "-p", "no:cacheprovider", "-k", "independent"
    )
    mine.assert_outcomes(skipped=1)
    mine.stdout.fnmatch_lines(
        [
            "could not run  samples of a batch are independent* -- the check could not run on "
            "this model (RuntimeError: the chart's own failure*"
        ]
    )
    reference = user_project.runpytest_inprocess("--device=cpu", "-p", "no:cacheprovider", "-k", "independent and mlp")
    reference.assert_outcomes(failed=1)
    reference.stdout.fnmatch_lines(["*a check could not run on the reference model mlp*"])


def test_the_summary_line_keeps_a_sentence_whole_past_e_g_and_i_e():
    from support.pytest_plugin.your_model import first_sentence

    note = "Note: 2 parameters start blocked (e.g. behind a gate at 0, i.e. zero-init): blocks.0.w. They learn later."
    assert (
        first_sentence(note)
        == "Note: 2 parameters start blocked (e.g. behind a gate at 0, i.e. zero-init): blocks.0.w."
    )
    assert first_sentence("one.  two") == "one." and first_sentence("no full stop") == "no full stop"
