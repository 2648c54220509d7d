"""What a check returns: its ``Outcome``, a message in English and Chinese, an optional one-line note, and the numbers
and curves it measured, each declared in the check's catalog entry (``support.model_check.catalog``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from support.errors import SpecInputError
from support.model_check.catalog import CheckInfo


class Outcome(enum.Enum):
    """The outcome of a check on a model.

    ``COULD_NOT_RUN`` is the checker's own limit (its machinery fails on this model, e.g. an architecture it cannot
    trace): it says nothing about the model and is never reported as a FAIL of the model.
    """

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"
    COULD_NOT_RUN = "could not run"


@dataclass(frozen=True)
class Text:
    """One sentence or paragraph in English and Chinese."""

    en: str
    zh: str

    def __post_init__(self) -> None:
        if not isinstance(self.en, str) or not isinstance(self.zh, str):
            raise SpecInputError(
                f"a check's text is a pair of strings (English, Chinese), got {self.en!r} / {self.zh!r}"
            )

    def __bool__(self) -> bool:
        return bool(self.en.strip())

    def __add__(self, other: Text) -> Text:
        return Text(self.en + other.en, self.zh + other.zh)


EMPTY = Text("", "")


def join(parts: list[Text], en: str = "; ", zh: str = ";") -> Text:
    """The non-empty parts joined, in each language with its own separator."""
    parts = [p for p in parts if p]
    return Text(en.join(p.en for p in parts), zh.join(p.zh for p in parts))


@dataclass
class CheckResult:
    """The outcome of one check on one model.

    ``message``: what was found, in the model's terms (parameter names, sample pairs, layer names), in English and
    Chinese; ``note``: one line worth telling even on a pass (a harmless oddity, a choice the checker made), or None;
    ``numbers``: measured values {name: (value, unit)}, names as declared in the catalog; ``curves``: measured
    sequences {name: (xs, ys)} for figures.
    """

    check: CheckInfo
    outcome: Outcome
    message: Text
    note: Text | None = None
    numbers: dict[str, tuple[float, str]] = field(default_factory=dict)
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.check, CheckInfo):
            raise SpecInputError(f"check must be a catalog entry (CheckInfo), got {self.check!r}")
        for what, text in (("message", self.message), ("note", self.note)):
            if text is None and what == "note":
                continue
            if not isinstance(text, Text) or not text.en.strip() or not text.zh.strip():
                raise SpecInputError(
                    f"check {self.check.id!r}: its {what} needs English and Chinese text, got {text!r}"
                )
        if not isinstance(self.outcome, Outcome):
            raise SpecInputError(
                f"outcome must be an Outcome, one of {[o.value for o in Outcome]}, got {self.outcome!r}"
            )
        for name, (_, unit) in self.numbers.items():
            declared = self.check.number(name)  # raises for an undeclared name
            if declared.unit != unit:
                raise SpecInputError(
                    f"check {self.check.id!r}: number {name!r} has unit {declared.unit!r} in the catalog, got {unit!r}"
                )
        for name in self.curves:
            self.check.curve_zh(name)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def claims(self) -> tuple[str, ...]:
        return self.check.claims

    def __repr__(self) -> str:  # short: pytest's assertion rewriting prints it
        return f"CheckResult({self.check.id!r}, {self.outcome.value!r})"


class Recorder:
    """Collects a check's numbers and curves against its catalog entry, then makes its ``CheckResult``."""

    def __init__(self, check: CheckInfo):
        self.check = check
        self.numbers: dict[str, tuple[float, str]] = {}
        self.curves: dict[str, tuple[list[float], list[float]]] = {}

    def number(self, name: str, value: float) -> float:
        """Record ``value`` under the declared number ``name`` (its unit from the catalog); returns the value."""
        value = float(value)
        self.numbers[name] = (value, self.check.number(name).unit)
        return value

    def curve(self, name: str, xs, ys) -> None:
        self.check.curve_zh(name)
        self.curves[name] = ([float(x) for x in xs], [float(y) for y in ys])

    def result(self, outcome: Outcome, message: Text, note: Text | None = None) -> CheckResult:
        return CheckResult(self.check, outcome, message, note, dict(self.numbers), dict(self.curves))

    def passed(self, message: Text, note: Text | None = None) -> CheckResult:
        return self.result(Outcome.PASS, message, note)

    def failed(self, message: Text, note: Text | None = None) -> CheckResult:
        return self.result(Outcome.FAIL, message, note)

    def not_applicable(self, message: Text) -> CheckResult:
        return self.result(Outcome.NOT_APPLICABLE, message)

    def could_not_run(self, message: Text) -> CheckResult:
        return self.result(Outcome.COULD_NOT_RUN, message)


__all__ = ["EMPTY", "CheckResult", "Outcome", "Recorder", "Text", "join"]
