"""The check catalog (support.model_check.catalog) is the one place a check is defined: each entry has its check
module, its spec module with the same title and claims, Chinese names and units for the numbers it reports; results
refuse numbers, units and curves the catalog does not declare; the catalog imports no torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support.claims import REGISTRY
from support.errors import SpecInputError
from support.model_check import REFERENCE_NAMES, references
from support.model_check.catalog import CATALOG, CHECK_IDS, info
from support.model_check.checks.result import CheckResult, Outcome, Recorder, Text
from support.model_check.runner import CHECKS
from support.report.text import UNITS_ZH

ROOT = Path(__file__).resolve().parents[2]
PART6 = ROOT / "spec" / "part6_your_model"
CHECK_MODULES = ROOT / "support" / "model_check" / "checks"


def _spec_module(path: Path) -> tuple[str, set[str], str]:
    """(docstring, claim marks, the check id its test passes to run_check) of a part-6 spec module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    marks = {
        d.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for d in node.decorator_list
        if isinstance(d, ast.Call) and getattr(d.func, "attr", None) == "claim"
    }
    runs = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_check"
    ]
    return ast.get_docstring(tree) or "", marks, runs[0] if runs else ""


def test_each_catalog_entry_has_its_check_module_and_its_spec_module_in_step():
    assert list(CHECKS) == list(CHECK_IDS)
    modules = {p.stem for p in CHECK_MODULES.glob("*.py") if not p.stem.startswith("_")} - {"__init__", "result"}
    assert modules == {c.module for c in CATALOG}, "one module per check in support/model_check/checks/"
    assert {p.stem.removeprefix("test_") for p in PART6.glob("test_*.py")} == {c.module for c in CATALOG}
    for entry in CATALOG:
        doc, marks, runs = _spec_module(PART6 / f"test_{entry.module}.py")
        where = f"spec/part6_your_model/test_{entry.module}.py"
        assert doc.splitlines()[0] == f"check: {entry.title}", f"{where}: its first line is the catalog's title"
        assert marks == set(entry.claims), f"{where}: marks {sorted(marks)}, the catalog says {entry.claims}"
        applies = next((p for p in doc.split("\n\n") if p.startswith("Applies: ")), "")
        named = {c for c in REGISTRY if re.search(rf"(?<![\w.-]){re.escape(c)}(?![\w-])", applies)}
        assert named == set(entry.claims), f"{where}: 'Applies:' names {sorted(named)}"
        assert runs == entry.id, f"{where}: run_check({runs!r}) instead of {entry.id!r}"
        assert all(c in REGISTRY for c in entry.claims)


def test_every_number_and_unit_a_check_reports_has_its_chinese_name():
    for entry in CATALOG:
        for number in entry.numbers:
            assert number.zh.strip(), f"{entry.id}: {number.name} has no Chinese name"
            assert number.unit == "1" or number.unit in UNITS_ZH, f"{entry.id}: unit {number.unit!r} has no zh entry"
        assert entry.title_zh.strip() and all(zh.strip() for zh in entry.curves.values())


def test_a_result_refuses_what_the_catalog_does_not_declare():
    entry = info("can-overfit-one-batch")
    ok = Text("fits", "拟合")
    assert CheckResult(entry, Outcome.PASS, ok, numbers={"steps": (3, "steps")}).passed
    with pytest.raises(SpecInputError, match="reports no number 'stpes'; did you mean 'steps'"):
        CheckResult(entry, Outcome.PASS, ok, numbers={"stpes": (3, "steps")})
    with pytest.raises(SpecInputError, match="number 'steps' has unit 'steps' in the catalog, got 'furlongs'"):
        CheckResult(entry, Outcome.PASS, ok, numbers={"steps": (3, "furlongs")})
    with pytest.raises(SpecInputError, match="draws no curve 'loss'"):
        Recorder(entry).curve("loss", [0], [1.0])
    with pytest.raises(SpecInputError, match="its message needs English and Chinese text"):
        CheckResult(entry, Outcome.PASS, Text("fits", ""))
    with pytest.raises(SpecInputError, match="outcome must be an Outcome"):
        CheckResult(entry, "pass", ok)
    with pytest.raises(SpecInputError, match="unknown model check 'can-overfit'; did you mean 'can-overfit-one-batch'"):
        info("can-overfit")


def test_the_catalog_imports_no_torch():
    code = "import sys, support.model_check.catalog; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_reference_factories_are_deterministic_and_leave_the_global_rng_alone():
    # (that every check passes on every reference model is spec/part6_your_model's run without --model)
    state = torch.random.get_rng_state()
    a, b = references.mlp(), references.mlp()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    with pytest.raises(SpecInputError, match="reference model must be one of .*, got 'resnet'"):
        references.reference("resnet")
    assert tuple(references.FACTORIES) == REFERENCE_NAMES  # the names the plugin parametrizes by, torch-free
