"""The one tolerance policy of the suite.

* Exact identities (mean = sum / N, accumulated per-sample gradients = batch gradient) are checked in
  float64 (``EXACT_DTYPE``): the only error left is rounding, far below the default float64 tolerance.
* Otherwise the tolerance comes from the dtype, after the table of ``torch.testing.assert_close``
  (PyTorch docs, torch.testing.assert_close: float16 1e-3/1e-5, bfloat16 1.6e-2/1e-5,
  float32 1.3e-6/1e-5, float64 1e-7/1e-7).
* Any looser tolerance is an ``override`` and must carry a reason, which appears in the failure message.
* Inequalities get the same treatment: ``assert_le(actual, bound, slack=...)`` / ``assert_ge`` compare with a
  ``Slack`` (relative and absolute room, and the reason for it), and the failure message prints both.
  ``ROUNDING`` is the room for float64 rounding of a bound computed in a few operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from support import _arguments
from support.errors import SpecInputError, SpecTypeError

EXACT_DTYPE = torch.float64

# (rtol, atol) per dtype, as in torch.testing.assert_close's default table.
_DEFAULTS: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str = "dtype default (torch.testing.assert_close table)"


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    """The default tolerance of a floating dtype."""
    if dtype not in _DEFAULTS:
        raise SpecTypeError(f"no tolerance for dtype {dtype}; floating dtypes are {sorted(map(str, _DEFAULTS))}")
    rtol, atol = _DEFAULTS[dtype]
    return Tolerance(rtol, atol)


def override(*, rtol: float, atol: float, reason: str) -> Tolerance:
    """A tolerance looser than the dtype's default. The reason says why (e.g. a sum of N terms)."""
    if not isinstance(reason, str) or len(reason.strip()) < 10:
        raise SpecInputError("a tolerance override needs a reason of a few words explaining why")
    return Tolerance(_arguments.number("rtol", rtol, at_least=0), _arguments.number("atol", atol, at_least=0), reason)


def accumulation(dtype: torch.dtype, n_terms: int) -> Tolerance:
    """Tolerance for comparing two sums of ``n_terms`` terms added in different orders.

    Each order's rounding error is bounded by about n * eps * sum|terms| (Higham, Accuracy and Stability
    of Numerical Algorithms, 2nd ed., sec. 4.2); we allow sqrt(n) times the dtype default, the typical
    (random-walk) growth, with a floor at the default.
    """
    _arguments.positive_int("n_terms", n_terms)
    base = tolerance_for(dtype)
    k = max(1.0, n_terms**0.5)
    return Tolerance(base.rtol * k, base.atol * k, f"sum of {n_terms} terms in a different order")


def assert_close(actual, expected, *, tol: Tolerance | None = None, msg: str = "") -> None:
    """``torch.testing.assert_close`` with the suite's policy: the dtype's tolerance unless ``tol`` says otherwise.

    Both tensors must have the same dtype and device; the failure message names the tolerance and its reason.
    """
    if not isinstance(actual, torch.Tensor) or not isinstance(expected, torch.Tensor):
        raise SpecTypeError(f"assert_close compares tensors, got {type(actual).__name__} and {type(expected).__name__}")
    tol = tol if tol is not None else tolerance_for(expected.dtype)
    if not isinstance(tol, Tolerance):
        raise SpecTypeError(f"tol must be a Tolerance (from tolerance_for/override/accumulation), got {tol!r}")

    if _plainly_close(actual, expected, tol):
        return

    def message(default: str) -> str:
        head = f"{msg}\n" if msg else ""
        return f"{head}{default}\n(rtol={tol.rtol:g}, atol={tol.atol:g}: {tol.reason})"

    torch.testing.assert_close(actual, expected, rtol=tol.rtol, atol=tol.atol, msg=message)


def _plainly_close(actual: torch.Tensor, expected: torch.Tensor, tol: Tolerance) -> bool:
    """True where ``torch.testing.assert_close`` is sure to pass: dense floating tensors of one dtype, device and
    shape whose values all pass its criterion, ``torch.isclose(actual, expected, rtol, atol, equal_nan=False)``
    (torch/testing/_comparison.py, ``TensorLikePair._compare_regular_values_close``). Every other case, and
    every failure with its message, is left to ``torch.testing.assert_close`` itself. The shortcut exists because
    in newer releases (2.13 to 2.15 here; not 2.9) its first call imports ``torch.distributed.tensor`` to unwrap
    DTensors, ~0.9 s in every process. ``tests/test_support_tolerances.py`` holds the two to the same verdicts."""
    a, e = actual.detach(), expected.detach()
    if type(a) is not torch.Tensor or type(e) is not torch.Tensor:
        return False  # tensor subclasses (DTensor among them) take the general path
    if (a.dtype, a.device, a.shape, a.layout) != (e.dtype, e.device, e.shape, e.layout) or a.layout != torch.strided:
        return False
    if not a.dtype.is_floating_point or a.dtype.itemsize == 1:
        return False  # complex, integer and float8 (compared bitwise by torch) take the general path
    return bool(torch.isclose(a, e, rtol=tol.rtol, atol=tol.atol, equal_nan=False).all())


# ---------------------------------------------------------------- inequalities
@dataclass(frozen=True)
class Slack:
    """Room an inequality allows: ``actual <= bound + rel * |bound| + abs`` (``>=`` mirrored)."""

    rel: float
    abs: float
    reason: str


def slack(*, rel: float = 0.0, abs: float = 0.0, reason: str) -> Slack:
    """Room for an inequality, with the reason (e.g. "float64 rounding of a product of 3 terms")."""
    if not isinstance(reason, str) or len(reason.strip()) < 10:
        raise SpecInputError("a slack needs a reason of a few words explaining why")
    for name, value in (("rel", rel), ("abs", abs)):
        _arguments.number(f"slack {name}", value, at_least=0)
    return Slack(float(rel), float(abs), reason)


EXACT = Slack(0.0, 0.0, "exact: no rounding can move either side")
# float64 has eps = 2.2e-16: a bound computed in a handful of operations is off by a few ulps, far below 1e-12
ROUNDING = Slack(1e-12, 0.0, "float64 rounding of both sides (a few ulps, eps = 2.2e-16)")


def _as_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        # an order needs real numbers: casting a complex tensor would drop its imaginary part, a bool one would
        # compare True/False as 1/0 (a mask passed by mistake)
        if value.is_complex() or value.dtype == torch.bool:
            raise SpecTypeError(f"{name} must be a real number or a real tensor, got a tensor of dtype {value.dtype}")
        return value.detach().to("cpu", torch.float64)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecTypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    return torch.tensor(float(value), dtype=torch.float64)


def _check_inequality(actual, bound, slack_: Slack | None, msg: str, *, upper: bool, strict: bool) -> None:
    slack_ = ROUNDING if slack_ is None else slack_
    if not isinstance(slack_, Slack):
        raise SpecTypeError(f"slack must be a Slack (from slack() or ROUNDING/EXACT), got {slack_!r}")
    a, b = _as_tensor("actual", actual), _as_tensor("bound", bound)
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise SpecInputError(
            f"actual and bound cannot broadcast: shapes {tuple(a.shape)} and {tuple(b.shape)}"
        ) from None
    if shape not in (a.shape, b.shape):  # e.g. (N,) against (N, 1): N x N pairs, not N elementwise comparisons
        raise SpecInputError(
            f"actual and bound must compare elementwise: one side's shape must hold the other, "
            f"got {tuple(a.shape)} and {tuple(b.shape)} (broadcast to {tuple(shape)})"
        )
    a, b = torch.broadcast_tensors(a, b)
    room = slack_.rel * b.abs() + slack_.abs
    if strict:
        ok = (a < b + room) if upper else (a > b - room)
    else:
        ok = (a <= b + room) if upper else (a >= b - room)
    if bool(ok.all()):
        return
    sign = ("<" if upper else ">") + ("" if strict else "=")
    excess = (a - b - room) if upper else (b - room - a)
    excess = torch.where(ok, torch.zeros_like(excess), excess.nan_to_num(nan=math.inf))
    worst = int(excess.reshape(-1).argmax())
    where = f" at index {tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), a.shape))}" if a.dim() else ""
    bad = int((~ok).sum())
    head = f"{msg}\n" if msg else ""
    raise AssertionError(
        f"{head}expected actual {sign} bound{where}: {a.reshape(-1)[worst].item():.17g} vs "
        f"{b.reshape(-1)[worst].item():.17g} ({bad} of {ok.numel()} violate it)\n"
        f"(slack rel={slack_.rel:g}, abs={slack_.abs:g}: {slack_.reason})"
    )


def assert_le(actual, bound, *, slack: Slack | None = None, strict: bool = False, msg: str = "") -> None:
    """``actual <= bound`` elementwise (``<`` with ``strict``), with ``slack`` (default ``ROUNDING``) of room;
    numbers or tensors.

    A NaN on either side fails. The failure message gives the worst element, both values and the slack's reason.
    """
    _check_inequality(actual, bound, slack, msg, upper=True, strict=strict)


def assert_ge(actual, bound, *, slack: Slack | None = None, strict: bool = False, msg: str = "") -> None:
    """``actual >= bound`` elementwise (``>`` with ``strict``); see ``assert_le``."""
    _check_inequality(actual, bound, slack, msg, upper=False, strict=strict)
