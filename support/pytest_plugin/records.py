"""What a test of the spec carries in its report's ``user_properties``: the keys and the layout of each record.

The plugin's parts write these records on the test item (they travel with every report, from xdist workers too, and
reach ``--junitxml``) and read them back where the reports arrive (the claims report, the summary under --model):

    CLAIM         a claim id the test checks (one record per ``claim`` marker)            claims.py
    FIGURE        one measured number (``FigureRecord``)                                   figures.py
    SERIES        one measured curve of a plot (``SeriesRecord``)                          figures.py
    CHECK         the model check a test runs, on which model and device (``CheckTag``)    your_model.py
    CHECK_RESULT  what the check returned (``CheckResultRecord``)                          your_model.py

Torch-free: the controller of an xdist run reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

CLAIM = "claim"
FIGURE = "figure"
SERIES = "series"
CHECK = "check"
CHECK_RESULT = "check_result"
KEYS = (CLAIM, FIGURE, SERIES, CHECK, CHECK_RESULT)


class _Figure(TypedDict):
    name: str  # English, with the device suffix (" (cuda)") off the cpu
    value: float | str  # a non-finite value as its string ("nan", "inf")
    unit: str  # "1" for a pure number
    note: str
    name_zh: str
    note_zh: str


class FigureRecord(_Figure, total=False):
    measured_on: str  # what the number was measured on, when it depends on the setup
    measured_on_zh: str


class SeriesRecord(TypedDict):
    name: str
    plot: str  # the title of the figure it belongs to
    x: list[float | str]
    y: list[float | str]
    x_label: str
    y_label: str
    log_x: bool
    log_y: bool
    style: str  # "line" | "points" | "dashed"
    zh: dict[str, str]  # name, plot, x_label, y_label in Chinese


class CheckTag(TypedDict):
    id: str  # the catalog id of the check (support.model_check.catalog)
    title: str
    subject: str  # the model's name
    device: str
    reference: bool  # one of the suite's reference models (no --model)


class CheckResultRecord(TypedDict):
    outcome: str  # "pass" | "fail" | "n/a" | "could not run"
    message: str
    message_zh: str
    note: str  # "" when the check has no note
    note_zh: str


def add(user_properties: list, key: str, record: Any) -> None:
    """Append one record under ``key`` (one of ``KEYS``)."""
    if key not in KEYS:
        from support import _arguments

        _arguments.one_of("record key", key, KEYS)
    user_properties.append((key, record))


def records(user_properties: Iterable, key: str) -> list:
    """Every record under ``key``, in the order they were added."""
    if key not in KEYS:  # a misspelt key would find nothing, silently
        from support import _arguments

        _arguments.one_of("record key", key, KEYS)
    return [v for k, v in user_properties if k == key]


def last(user_properties: Iterable, key: str, default: Any = None) -> Any:
    """The last record under ``key``, or ``default``."""
    found = records(user_properties, key)
    return found[-1] if found else default


__all__ = [
    "CHECK",
    "CHECK_RESULT",
    "CLAIM",
    "FIGURE",
    "KEYS",
    "SERIES",
    "CheckResultRecord",
    "CheckTag",
    "FigureRecord",
    "SeriesRecord",
    "add",
    "last",
    "records",
]
