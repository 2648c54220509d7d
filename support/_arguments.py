"""Argument checks shared by the support helpers; each raises SpecInputError naming the argument.

Torch is imported by the tensor checks only, when called: the plugin and the report library use the number and
choice checks in processes that never import torch (the controller of an xdist run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from support.errors import SpecInputError, SpecTypeError, did_you_mean

if TYPE_CHECKING:
    import torch


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not a count here


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range(low: float | None, low_open: bool, high: float | None, high_open: bool) -> str:
    """ " >= 0", " in [0, 1)", "" (no bound): the bounds the way the messages print them."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _low_high(above, at_least, below, at_most) -> tuple[float | None, bool, float | None, bool]:
    if (above is not None and at_least is not None) or (below is not None and at_most is not None):
        raise SpecInputError("give one lower bound (above or at_least) and one upper bound (below or at_most)")
    low, low_open = (above, True) if above is not None else (at_least, False)
    high, high_open = (below, True) if below is not None else (at_most, False)
    return low, low_open, high, high_open


def _inside(value: float, low: float | None, low_open: bool, high: float | None, high_open: bool) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def integer(
    name: str, value: object, *, at_least: int | None = None, below: int | None = None, at_most: int | None = None
) -> int:
    """An int (a bool is refused) within the bounds given: ``integer("k", k, at_least=0, below=n)`` is k in [0, n)."""
    low, low_open, high, high_open = _low_high(None, at_least, below, at_most)
    bounds = _range(low, low_open, high, high_open)
    if not _is_int(value):
        raise SpecTypeError(f"{name} must be an int{bounds}, got {value!r}")
    if not _inside(value, low, low_open, high, high_open):
        raise SpecInputError(f"{name} must be an int{bounds}, got {value!r}")
    return value


def positive_int(name: str, value: object) -> int:
    """A count: an int >= 1."""
    return integer(name, value, at_least=1)


# torch.Generator.manual_seed: "Value must be within the inclusive range [-0x8000_0000_0000_0000,
# 0xffff_ffff_ffff_ffff]" (negative seeds are remapped to positive ones); outside it, a RuntimeError.
SEED_RANGE = (-0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF)


def seed(value: object, name: str = "seed") -> int:
    """An RNG seed: an int that torch.Generator.manual_seed takes."""
    return integer(name, value, at_least=SEED_RANGE[0], at_most=SEED_RANGE[1])


def shape(name: str, value: object, *, allow_empty: bool = False) -> tuple[int, ...]:
    """A tensor shape: a tuple of ints >= 1 (empty, a scalar's, only with ``allow_empty``)."""
    if not isinstance(value, tuple) or (not value and not allow_empty) or not all(_is_int(d) and d >= 1 for d in value):
        raise SpecInputError(f"{name} must be a {'' if allow_empty else 'non-empty '}tuple of ints >= 1, got {value!r}")
    return value


def positive_ints(name: str, values: object) -> list[int]:
    """A non-empty sequence of ints >= 1 (e.g. depths), as a list."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SpecInputError(f"{name} must be a sequence of positive ints, got {values!r}")
    out = [positive_int(f"{name}[i]", v) for v in values]
    if not out:
        raise SpecInputError(f"{name} is empty")
    return out


def number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    finite: bool = True,
) -> float:
    """A real number (int or float, not a bool), as a float, within the bounds given: ``above``/``below`` are open
    ends, ``at_least``/``at_most`` closed ones (``number("p", p, at_least=0, at_most=1)`` is p in [0, 1]).
    ``finite=False`` lets inf and NaN through where the bounds do (NaN is outside every bound)."""
    low, low_open, high, high_open = _low_high(above, at_least, below, at_most)
    kind = "a finite number" if finite and (low is None or high is None) else "a number"
    unbounded_above = "" if finite or low is None or high is not None else " or inf"
    what = f"{kind}{_range(low, low_open, high, high_open)}{unbounded_above}"
    if not _is_real(value):
        raise SpecTypeError(f"{name} must be {what}, got {value!r}")
    if (finite and not math.isfinite(value)) or not _inside(value, low, low_open, high, high_open):
        raise SpecInputError(f"{name} must be {what}, got {value!r}")
    return float(value)


def positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``), as a float."""
    if allow_zero:
        return number(name, value, at_least=0)
    return number(name, value, above=0)


def one_of(name: str, value: object, choices: Iterable) -> object:
    """``value`` if it is one of ``choices``; else SpecInputError listing them, with the closest as a hint."""
    choices = tuple(choices)
    if value not in choices:
        raise SpecInputError(
            f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}{did_you_mean(str(value), choices)}"
        )
    return value


def floating_dtype(name: str, dtype: object) -> torch.dtype:
    import torch

    if dtype not in (torch.float32, torch.float64):
        raise SpecTypeError(f"{name} must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[return-value]


def tensor(name: str, value: object, *, dim: int | None = None, floating: bool | None = None) -> torch.Tensor:
    import torch

    if not isinstance(value, torch.Tensor):
        raise SpecTypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if dim is not None and value.dim() != dim:
        raise SpecInputError(f"{name} must have {dim} dimension(s), got shape {tuple(value.shape)}")
    if floating is True and not value.is_floating_point():
        raise SpecTypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise SpecTypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    return value


def same_batch(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> int:
    tensor(name_a, a)
    tensor(name_b, b)
    if a.dim() < 1 or b.dim() < 1 or a.shape[0] != b.shape[0]:
        raise SpecInputError(
            f"{name_a} and {name_b} must have the same batch size (dim 0), "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] == 0:
        raise SpecInputError(f"{name_a} and {name_b} are empty batches")
    return a.shape[0]
