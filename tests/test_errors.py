"""support/ raises one kind of error for bad input: SpecInputError (support.errors) or a subclass, whose message names
the value and the fix. A test failure is an AssertionError (support.tolerances), a bad command line or option a
pytest.UsageError; no `raise` in the package names another class (a self-test greps, like test262's lint), and the
self-tests of each module feed it bad input."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"SpecInputError", "SpecTypeError", "UnknownClaimError", "UsageError", "AssertionError", "SystemExit"}


def _raised(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every exception class a ``raise`` names (re-raises of a caught exception excluded)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", None)
            if name is not None and name[:1].isupper():
                found.append((node.lineno, name))
    return found


def test_support_raises_only_the_package_s_input_errors():
    others = [
        f"{p.relative_to(ROOT)}:{line} raises {name}"
        for p in sorted((ROOT / "support").rglob("*.py"))
        for line, name in _raised(p)
        if name not in ALLOWED
    ]
    assert not others, "raise SpecInputError (or a subclass) naming the value and the fix:\n" + "\n".join(others)


def test_the_record_protocol_refuses_a_key_it_does_not_define():
    import pytest

    from support.errors import SpecInputError
    from support.pytest_plugin import records

    props: list = []
    records.add(props, records.FIGURE, {"name": "x"})
    assert records.records(props, records.FIGURE) == [{"name": "x"}] and records.last(props, records.CLAIM) is None
    for call in (lambda: records.add(props, "figures", {}), lambda: records.records(props, "figures")):
        with pytest.raises(SpecInputError, match="record key must be one of"):
            call()
