"""The ``figures`` fixture: measured numbers and curves of one test, for the claims report.

``figures.record(name, value, unit, zh=...)`` keeps one number (``measured_on=``/``measured_on_zh=`` say on what:
the model, the data, the batch size, when the number depends on them); ``figures.plot(title, x_label=..., y_label=...,
zh=(title, x_label, y_label))`` returns a handle whose ``.line()``, ``.points()`` and ``.bound()`` add curves to
one figure of the claim (curves of one claim with the same title share a figure). Every name, title and label is
given in English and in Chinese (``zh``), so that the report reads whole in either language. Both travel in the
test report's ``user_properties``, so they survive xdist and reach ``--junitxml`` and ``--claims-report``. When a
test runs on a device other than the cpu, names get the device as a suffix (``" (cuda)"``), so a run on cpu and
cuda keeps both; a statistical test rerun on another seed block (the thorough profile) names the block the same way.
"""

from __future__ import annotations

import math
import sys

import pytest

import support.pytest_plugin.records as records
from support import _arguments
from support.claims.schema import has_chinese
from support.errors import SpecInputError
from support.pytest_plugin.records import FigureRecord, SeriesRecord

SERIES_STYLES = ("line", "points", "dashed")


def _floats(what: str, values) -> list:
    if isinstance(values, (str, bytes)):  # iterable, and float("1") works: it would pass as digits
        raise SpecInputError(f"{what} must be a sequence of numbers, got a string {values!r}")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise SpecInputError(f"{what} must be a sequence of numbers: {exc}") from None
    return [v if math.isfinite(v) else str(v) for v in out]


def _text(what: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecInputError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _chinese(what: str, value) -> str:
    """A Chinese rendering: a non-empty string with at least one Han character (not a copy of the English)."""
    _text(what, value)
    if not has_chinese(value):
        raise SpecInputError(f"{what} must be written in Chinese (the report's zh edition shows it), got {value!r}")
    return value


class Plot:
    """One figure of the claims report: a title, axis labels with units, and the curves added to it."""

    def __init__(
        self,
        figures: Figures,
        title: str,
        *,
        x_label: str,
        y_label: str,
        log_x: bool,
        log_y: bool,
        zh: tuple[str, str, str],
    ):
        self._figures = figures
        self.title = _text("plot title", title)
        self.x_label = _text(f"plot {title!r}: x_label", x_label)
        self.y_label = _text(f"plot {title!r}: y_label", y_label)
        if not isinstance(zh, tuple) or len(zh) != 3:
            raise SpecInputError(f"plot {title!r}: zh must be a tuple (title, x_label, y_label) in Chinese, got {zh!r}")
        self.zh = tuple(_chinese(f"plot {title!r}: zh[{i}]", v) for i, v in enumerate(zh))
        self.log_x, self.log_y = bool(log_x), bool(log_y)

    def line(self, name: str, x, y, *, zh: str) -> Plot:
        """A measured curve (a line through marked points); ``zh`` is its name in Chinese."""
        return self._add(name, x, y, "line", zh)

    def points(self, name: str, x, y, *, zh: str) -> Plot:
        """Measured points, not joined."""
        return self._add(name, x, y, "points", zh)

    def bound(self, name: str, x, y, *, zh: str) -> Plot:
        """A bound, a theory curve or a reference level (dashed)."""
        return self._add(name, x, y, "dashed", zh)

    def _add(self, name: str, x, y, style: str, zh: str) -> Plot:
        self._figures._series(
            name,
            x,
            y,
            plot=self.title,
            x_label=self.x_label,
            y_label=self.y_label,
            log_x=self.log_x,
            log_y=self.log_y,
            style=style,
            zh={
                "name": _chinese(f"curve {name!r}: zh", zh),
                "plot": self.zh[0],
                "x_label": self.zh[1],
                "y_label": self.zh[2],
            },
        )
        return self


class Figures:
    """Measured figures of one test, attached to its report as ("figure", {...}) and ("series", {...}) user
    properties."""

    def __init__(self, node: pytest.Item, device: str | None = None, seed_block: int = 0):
        self._node = node
        self._suffix = self._suffix_zh = "" if device in (None, "cpu") else f" ({device})"
        if seed_block:
            self._suffix += f" (seed block {seed_block})"
            self._suffix_zh += f"(第 {seed_block} 组种子)"

    def record(
        self,
        name: str,
        value,
        unit: str,
        *,
        zh: str,
        note: str = "",
        note_zh: str = "",
        measured_on: str = "",
        measured_on_zh: str = "",
    ) -> float:
        """Keep one measured number; ``unit`` is "1" for a pure number; ``zh`` is the name in Chinese (and ``note_zh``
        the note's). ``measured_on`` says what the number was measured on when it depends on the setup (e.g. "MLP
        4-8-3, batch 16, 5 SGD steps"; the report shows it next to the number), ``measured_on_zh`` the same in
        Chinese. Returns the value as a float."""
        _text("figure name", name)
        _chinese(f"figure {name!r}: zh", zh)
        for english, chinese, what in ((note, note_zh, "note"), (measured_on, measured_on_zh, "measured_on")):
            if not isinstance(english, str) or not isinstance(chinese, str):
                raise SpecInputError(f"figure {name!r}: {what} and {what}_zh must be strings")
            if english and not chinese:
                raise SpecInputError(f"figure {name!r}: {what} needs its Chinese {what}_zh too")
            if chinese and not english:
                raise SpecInputError(f"figure {name!r}: {what}_zh needs its English {what} too")
            if chinese:
                _chinese(f"figure {name!r}: {what}_zh", chinese)
        if not isinstance(unit, str):
            raise SpecInputError(f"figure {name!r}: unit must be a string ('1' for a pure number), got {unit!r}")
        torch = sys.modules.get("torch")  # a tensor can only come from a process that imported torch
        if torch is not None and isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise SpecInputError(
                    f"figure {name!r}: value must be a scalar, got a tensor of shape {tuple(value.shape)}"
                )
            value = value.item()
        value = _arguments.number(f"figure {name!r}: value", value, finite=False)  # inf and NaN are shown as such
        record = FigureRecord(
            name=name + self._suffix,
            value=value if math.isfinite(value) else str(value),
            unit=unit,
            note=note,
            name_zh=zh + self._suffix_zh,
            note_zh=note_zh,
        )
        if measured_on:
            record.update(measured_on=measured_on, measured_on_zh=measured_on_zh)
        records.add(self._node.user_properties, records.FIGURE, record)
        return value

    def plot(
        self,
        title: str,
        *,
        x_label: str,
        y_label: str,
        zh: tuple[str, str, str],
        log_x: bool = False,
        log_y: bool = False,
    ) -> Plot:
        """A figure of the claims report. Labels carry units, e.g. "depth (layers)"; ``zh`` gives the title and the
        two labels in Chinese."""
        return Plot(self, title, x_label=x_label, y_label=y_label, log_x=log_x, log_y=log_y, zh=zh)

    def _series(
        self,
        name: str,
        x,
        y,
        *,
        plot: str,
        x_label: str,
        y_label: str,
        zh: dict,
        log_x: bool = False,
        log_y: bool = False,
        style: str = "line",
    ) -> None:
        """One curve of the figure titled ``plot``; tests add curves through the ``figures.plot(...)`` handle."""
        xs, ys = _floats(f"series {name!r} x", x), _floats(f"series {name!r} y", y)
        if len(xs) != len(ys) or not xs:
            raise SpecInputError(
                f"series {name!r}: x and y must be non-empty and of equal length, got {len(xs)} and {len(ys)}"
            )
        for label, value in (("name", name), ("plot", plot), ("x_label", x_label), ("y_label", y_label)):
            _text(f"series {name!r}: {label}", value)
        _arguments.one_of(f"series {name!r}: style", style, SERIES_STYLES)
        records.add(
            self._node.user_properties,
            records.SERIES,
            SeriesRecord(
                name=name + self._suffix,
                plot=plot,
                x=xs,
                y=ys,
                x_label=x_label,
                y_label=y_label,
                log_x=bool(log_x),
                log_y=bool(log_y),
                style=style,
                zh={**zh, "name": zh["name"] + self._suffix_zh},
            ),
        )


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    device = params.get("device")
    return Figures(
        request.node, device=str(device) if device is not None else None, seed_block=params.get("seed_block", 0)
    )
