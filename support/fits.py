"""Line fits and bisection for the experiments: ordinary least squares (``fit_line``, ``fit_log_slope``), the standard
error of a fitted slope when each point has a known variance (``slope_standard_error``, the tolerance of a slope
comparison), and ``bisect``, a root of a function that changes sign on an interval (the position of a "wall")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from support import _arguments
from support.errors import SpecInputError


def finite(name: str, v) -> float:
    """``v`` as a float, or SpecInputError naming ``name`` when it is not a finite number."""
    return _arguments.number(name, v)


@dataclass(frozen=True)
class LineFit:
    """y ~ slope * x + intercept by ordinary least squares; ``residuals`` are y - fit, in input order."""

    slope: float
    intercept: float
    residuals: tuple[float, ...]

    def predict(self, x: float) -> float:
        return self.slope * x + self.intercept


def _floats(name: str, values) -> list[float]:
    # a str or bytes is a sequence too ("123" -> 1, 2, 3; b"12" -> 49, 50), and a matrix would be flattened
    # row by row: both are a mistake, not points
    if isinstance(values, (str, bytes, bytearray)):
        raise SpecInputError(f"{name} must be a sequence of numbers, got {type(values).__name__} {values!r}")
    if isinstance(values, torch.Tensor):
        if values.dim() > 1:
            raise SpecInputError(
                f"{name} must be a 1-dimensional tensor (one value per point), got shape {tuple(values.shape)}"
            )
        values = values.detach().cpu().reshape(-1).tolist()
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise SpecInputError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise SpecInputError(f"{name} must be finite, got {out}")
    return out


def fit_line(xs, ys) -> LineFit:
    """Least-squares line through (xs, ys): at least two points, not all at the same x."""
    x, y = _floats("xs", xs), _floats("ys", ys)
    if len(x) != len(y):
        raise SpecInputError(f"xs and ys must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        raise SpecInputError(f"a line needs at least 2 points, got {len(x)}")
    xm, ym = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - xm) ** 2 for a in x)
    if sxx == 0:
        raise SpecInputError("xs are all equal: the slope is undefined")
    slope = sum((a - xm) * (c - ym) for a, c in zip(x, y)) / sxx
    intercept = ym - slope * xm
    return LineFit(slope, intercept, tuple(c - (slope * a + intercept) for a, c in zip(x, y)))


def fit_log_slope(xs, values) -> LineFit:
    """Least-squares line through (xs, log values): the slope is the log of the per-unit growth factor."""
    v = _floats("values", values)
    if any(a <= 0 for a in v):
        raise SpecInputError(f"values must be > 0 to take their log, got {v}")
    return fit_line(xs, [math.log(a) for a in v])


def slope_standard_error(xs, variances) -> float:
    """Standard deviation of the least-squares slope when y_i has variance ``variances[i]``, independently:
    sqrt(sum_i (x_i - mean x)^2 var_i) / sum_i (x_i - mean x)^2."""
    x, v = _floats("xs", xs), _floats("variances", variances)
    if len(x) != len(v) or len(x) < 2:
        raise SpecInputError(f"xs and variances must have the same length >= 2, got {len(x)} and {len(v)}")
    if any(a < 0 for a in v):
        raise SpecInputError(f"variances must be >= 0, got {v}")
    xm = sum(x) / len(x)
    sxx = sum((a - xm) ** 2 for a in x)
    if sxx == 0:
        raise SpecInputError("xs are all equal: the slope is undefined")
    return math.sqrt(sum((a - xm) ** 2 * b for a, b in zip(x, v))) / sxx


def bisect(f: Callable[[float], float], lo: float, hi: float, *, xtol: float = 1e-12, max_iter: int = 200) -> float:
    """A root of ``f`` on [lo, hi], where f(lo) and f(hi) have opposite signs (or one is 0).

    Halves the bracket until it is narrower than ``xtol`` (or ``max_iter`` halvings) and returns its
    midpoint: the returned point lies within xtol / 2 of a sign change of f.
    """
    lo, hi = finite("lo", lo), finite("hi", hi)
    if not lo < hi:
        raise SpecInputError(f"need lo < hi, got lo={lo}, hi={hi}")
    _arguments.positive_float("xtol", xtol)
    _arguments.positive_int("max_iter", max_iter)
    f_lo, f_hi = float(f(lo)), float(f(hi))
    if not (math.isfinite(f_lo) and math.isfinite(f_hi)):
        raise SpecInputError(f"f must be finite at the ends of the bracket, got f(lo)={f_lo}, f(hi)={f_hi}")
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    if (f_lo > 0) == (f_hi > 0):
        raise SpecInputError(f"f must change sign on [lo, hi], got f({lo})={f_lo} and f({hi})={f_hi}")
    for _ in range(max_iter):
        if hi - lo <= xtol:
            break
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):  # the bracket cannot be halved further in floating point
            break
        f_mid = float(f(mid))
        if not math.isfinite(f_mid):
            raise SpecInputError(f"f({mid}) is not finite ({f_mid})")
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
