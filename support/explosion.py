"""Tools for the gradient-explosion experiments (part 2 of the source).

* ``GradientMonitor``: records the total gradient norm (and the loss) of every step and flags non-finite
  values and spikes, naming the parameters whose gradients went non-finite.
* Pascanu, Mikolov & Bengio 2013, sec. 2.3, eq. 8: the one-unit recurrent model x_t = w * sigmoid(x_{t-1}) + b
  with x_0 = 0.5 and error E = (sigmoid(x_T) - 0.7)^2 (``one_unit_rnn_*``).
* ``fit_line`` / ``fit_log_slope`` / ``slope_standard_error``: ordinary least squares, and the standard error
  of its slope when each point has a known variance (the tolerance of a slope comparison).
* ``bisect``: a root of a function that changes sign on an interval (the position of a "wall").
* ``unstable_regression``: the small net and data whose SGD run at ``UNSTABLE_LR`` overflows (within
  ``OVERFLOW_WITHIN_STEPS`` steps), shared by the explosion, clipping and monitoring specs.
* ``depth_sweep``: log-norm of the input gradient of bias-free MLPs over depths and seeds (cached; the shared
  settings are ``SWEEP_WIDTH``/``SWEEP_DEPTHS``/``SWEEP_SEEDS``), and two predictions for it:
  ``gaussian_chain_log_norm_mean``/``_variance`` (exact, for linear layers) and ``mean_field_log_norm`` (the
  wide-network limit for any activation), with ``nonlinear_slope_tolerance`` for comparing slopes to the latter.

Curves for the claims report are recorded with the plugin's ``figures.series`` (support.pytest_plugin.Figures).
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from support import _checks
from support.errors import SpecInputError, SpecTypeError
from support.models import ACTIVATIONS, mlp

# ================================================================ the gradient monitor
ANOMALY_KINDS = ("non-finite-loss", "non-finite-grad", "spike")


@dataclass(frozen=True)
class Anomaly:
    """One flagged step.

    kind: "non-finite-loss"; "non-finite-grad" (the total gradient norm is NaN or inf; ``parameters`` names
    the parameters whose gradient holds a NaN/inf element or whose own norm overflows -- empty only when
    nothing but the sum of their squares overflows); or "spike" (``value`` exceeds ``spike_factor`` times
    ``reference``, the median of the preceding finite norms in the window).
    """

    step: int
    kind: str
    value: float
    reference: float | None = None
    parameters: tuple[str, ...] = ()


class GradientMonitor:
    """Watch a training run: call ``observe(loss)`` once per step, after ``backward()`` and before any
    clipping or ``optimizer.step()``.

    Each call records the loss and the total L2 norm of all gradients (the norm of the gradients
    concatenated, what ``clip_grad_norm_`` computes; parameters whose ``.grad`` is None are skipped) and
    returns the anomalies of that step:

    * a non-finite loss;
    * a non-finite total gradient norm, with the names of the parameters whose gradient holds a NaN/inf
      element or has a norm that overflows;
    * a spike: a finite norm larger than ``spike_factor`` times the median of the last ``window`` finite
      norms, checked once ``warmup`` finite norms have been seen.

    ``norms``, ``losses`` and ``anomalies`` keep the whole history; ``first(kind)`` returns the first
    anomaly (of a kind); ``healthy`` is True while nothing has been flagged.
    """

    def __init__(self, model: nn.Module | Iterable[torch.Tensor], *, spike_factor: float = 10.0, window: int = 10,
                 warmup: int = 3):
        if isinstance(model, nn.Module):
            named = list(model.named_parameters())
        elif isinstance(model, torch.Tensor):
            named = [("0", model)]
        else:
            try:
                named = [(str(i), p) for i, p in enumerate(model)]
            except TypeError:
                raise SpecTypeError(
                    f"model must be an nn.Module or an iterable of tensors, got {type(model).__name__}") from None
        if not named:
            raise SpecInputError("model has no parameters to monitor")
        for name, p in named:
            if not isinstance(p, torch.Tensor):
                raise SpecTypeError(f"model: parameter {name} is a {type(p).__name__}, not a tensor")
        if (isinstance(spike_factor, bool) or not isinstance(spike_factor, (int, float))
                or not 1 < spike_factor < math.inf):
            raise SpecInputError(f"spike_factor must be a finite number > 1, got {spike_factor!r}")
        self._named = named
        self.spike_factor = float(spike_factor)
        self.window = _checks.positive_int("window", window)
        self.warmup = _checks.positive_int("warmup", warmup)
        if self.warmup > self.window:
            raise SpecInputError(f"warmup ({warmup}) must not exceed window ({window})")
        self.norms: list[float] = []
        self.losses: list[float | None] = []
        self.anomalies: list[Anomaly] = []

    @property
    def step(self) -> int:
        """How many steps have been observed."""
        return len(self.norms)

    @property
    def healthy(self) -> bool:
        return not self.anomalies

    def first(self, kind: str | None = None) -> Anomaly | None:
        """The first anomaly of ``kind`` (any kind when None), or None."""
        if kind is not None and kind not in ANOMALY_KINDS:
            raise SpecInputError(f"unknown anomaly kind {kind!r}; expected one of {ANOMALY_KINDS}")
        return next((a for a in self.anomalies if kind is None or a.kind == kind), None)

    def observe(self, loss: torch.Tensor | float | None = None) -> tuple[Anomaly, ...]:
        step = self.step
        loss_value = None
        if loss is not None:
            if isinstance(loss, torch.Tensor):
                if loss.numel() != 1:
                    raise SpecInputError(f"loss must be a scalar, got a tensor of shape {tuple(loss.shape)}")
                loss_value = float(loss.detach().item())
            elif isinstance(loss, (int, float)) and not isinstance(loss, bool):
                loss_value = float(loss)
            else:
                raise SpecTypeError(f"loss must be a scalar tensor, a number or None, got {type(loss).__name__}")
        with_grad = [(n, p.grad) for n, p in self._named if p.grad is not None]
        if not with_grad:
            raise SpecInputError("no monitored parameter has a .grad: call observe() after backward()")
        norms = torch.stack([torch.linalg.vector_norm(g.detach()).double().cpu() for _, g in with_grad])
        per_param = norms.tolist()
        norm = torch.linalg.vector_norm(norms).item()

        found: list[Anomaly] = []
        if loss_value is not None and not math.isfinite(loss_value):
            found.append(Anomaly(step, "non-finite-loss", loss_value))
        if not math.isfinite(norm):
            # a NaN/inf element, or finite elements whose norm overflows (|g| > ~1e154 in float64)
            bad = tuple(name for (name, g), pn in zip(with_grad, per_param)
                        if not (math.isfinite(pn) and bool(torch.isfinite(g).all())))
            found.append(Anomaly(step, "non-finite-grad", norm, parameters=bad))
        else:
            history = [v for v in self.norms if math.isfinite(v)][-self.window:]
            if len(history) >= self.warmup:
                reference = statistics.median(history)
                if norm > self.spike_factor * reference:
                    found.append(Anomaly(step, "spike", norm, reference=reference))
        self.norms.append(norm)
        self.losses.append(loss_value)
        self.anomalies.extend(found)
        return tuple(found)


# ================================================================ Pascanu et al. 2013, sec. 2.3
PASCANU_X0 = 0.5
PASCANU_TARGET = 0.7


def _bias_tensor(b) -> torch.Tensor:
    if isinstance(b, torch.Tensor):
        if b.dtype != torch.float64:
            raise SpecTypeError(f"b must be a float64 tensor (the model is studied in float64), got {b.dtype}")
        return b
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
        raise SpecInputError(f"b must be a finite number or a float64 tensor, got {b!r}")
    return torch.tensor(float(b), dtype=torch.float64)


def _finite(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpecInputError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def one_unit_rnn_final_state(w: float, b, steps: int, *, x0: float = PASCANU_X0) -> torch.Tensor:
    """x_T of x_t = w * sigmoid(x_{t-1}) + b, x_0 = x0, with no input (Pascanu et al. 2013, eq. 8).

    ``b`` is a number or a float64 tensor of biases (one independent model per element); differentiable in b.
    """
    w = _finite("w", w)
    x0 = _finite("x0", x0)
    _checks.positive_int("steps", steps)
    b = _bias_tensor(b)
    x = torch.full_like(b, x0)
    for _ in range(steps):
        x = w * torch.sigmoid(x) + b
    return x


def one_unit_rnn_error(w: float, b, steps: int, *, x0: float = PASCANU_X0,
                       target: float = PASCANU_TARGET) -> torch.Tensor:
    """E = (sigmoid(x_T) - target)^2, the error of Pascanu et al.'s Fig. 6 (target 0.7 after T steps)."""
    return (torch.sigmoid(one_unit_rnn_final_state(w, b, steps, x0=x0)) - _finite("target", target)) ** 2


def one_unit_rnn_bias_grad(w: float, b, steps: int, *, x0: float = PASCANU_X0,
                           target: float = PASCANU_TARGET) -> torch.Tensor:
    """dE/db by autograd, elementwise for a tensor of biases (each E depends only on its own b)."""
    b = _bias_tensor(b).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(one_unit_rnn_error(w, b, steps, x0=x0, target=target).sum(), b)
    return grad


# ================================================================ line fits and bisection
@dataclass(frozen=True)
class LineFit:
    """y ~ slope * x + intercept by ordinary least squares; ``residuals`` are y - fit, in input order."""

    slope: float
    intercept: float
    residuals: tuple[float, ...]

    def predict(self, x: float) -> float:
        return self.slope * x + self.intercept


def _floats(name: str, values) -> list[float]:
    if isinstance(values, torch.Tensor):
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
    lo, hi = _finite("lo", lo), _finite("hi", hi)
    if not lo < hi:
        raise SpecInputError(f"need lo < hi, got lo={lo}, hi={hi}")
    _checks.positive_float("xtol", xtol)
    _checks.positive_int("max_iter", max_iter)
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


# ================================================================ the unstable run
# Shared by explosion.definition, remedy.clip-stabilises and remedy.monitor: one small net whose SGD run at
# UNSTABLE_LR = 1 sits about 3x above its stability limit 2/lambda_max (explosion.definition measures it).
UNSTABLE_LR = 1.0
# Past the limit the growth compounds: in a depth-3 net the residual grows like w^3 and d f / d w like w^2, so
# the MSE gradient grows like the 5th power of the weights, and once the steps overshoot each one multiplies
# log ||g|| (not ||g||) by up to ~5. From ||g|| ~ 10 the float64 limit (1.8e308, log10 = 308) is then ~4 steps
# away (1 -> 5 -> 25 -> 125 -> 625 in log10); 12 leaves room for the slower first overshoots.
OVERFLOW_WITHIN_STEPS = 12


def unstable_regression(device: str | torch.device = "cpu"):
    """(x, y, make_model): 32 float64 regression samples (4 features, 1 target, seed 3) and a factory of the
    same seeded depth-3 linear MLP 4-8-8-1 (seed 3); SGD on its MSE at UNSTABLE_LR overflows within
    OVERFLOW_WITHIN_STEPS steps."""
    from support.data import regression
    from support.models import mlp

    x, y = regression(32, 4, 1, seed=3, device=device)
    return x, y, (lambda: mlp(4, 8, 1, depth=3, activation="linear", seed=3, device=device))


# ================================================================ gradient norm vs depth
@dataclass(frozen=True)
class DepthSweep:
    """log ||d(u . f(x)) / dx|| (``log_norms``) and log ||f(x)|| - log ||x|| (``forward_log_gains``) of bias-free
    MLPs, one row per depth, one column per seed; u is a random unit vector."""

    activation: str
    weight_std: float
    width: int
    depths: tuple[int, ...]
    log_norms: tuple[tuple[float, ...], ...]
    forward_log_gains: tuple[tuple[float, ...], ...]

    @property
    def mean_log_norms(self) -> tuple[float, ...]:
        return tuple(sum(r) / len(r) for r in self.log_norms)

    @property
    def mean_forward_log_gains(self) -> tuple[float, ...]:
        return tuple(sum(r) / len(r) for r in self.forward_log_gains)

    def fit(self) -> LineFit:
        """Least-squares line of the seed-averaged input-gradient log-norm against depth."""
        return fit_line(self.depths, self.mean_log_norms)


# The sweep shared by explosion.cause.init, explosion.cause.depth and remedy.relu (cached, so computed once
# per process): width 32, depths 2..32, 3 independent networks per depth.
SWEEP_WIDTH = 32
SWEEP_DEPTHS = (2, 4, 8, 16, 32)
SWEEP_SEEDS = 3


def sweep_seed(depth: int, k: int, base: int = 0) -> int:
    """The seed of the k-th network of a depth: distinct per (depth, k), so depths are independent samples."""
    return base + 7919 * depth + k


def depth_sweep(activation: str, weight_std: float, *, width: int, depths: Sequence[int], seeds: int,
                seed: int = 0, input_scale: float = 1.0) -> DepthSweep:
    """Input-gradient log-norms of ``mlp(width, width, width, depth=d, weight_std=..., bias=False)`` for each
    depth d (d Linear layers, an activation between consecutive ones), for ``seeds`` networks per depth.

    Each network gets one input x ~ N(0, input_scale^2 I) and one unit direction u, drawn from its own seed;
    the networks of different depths are independent (``sweep_seed``). float64 on the CPU. The result is
    cached (it is deterministic and immutable), so tests of several claims can share a sweep.
    """
    if activation not in ACTIVATIONS:
        raise SpecInputError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    weight_std = _checks.positive_float("weight_std", weight_std)
    _checks.positive_int("width", width)
    _checks.positive_int("seeds", seeds)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SpecInputError(f"seed must be an int, got {seed!r}")
    input_scale = _checks.positive_float("input_scale", input_scale)
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Iterable):
        raise SpecInputError(f"depths must be a sequence of positive ints, got {depths!r}")
    depths = tuple(depths)
    if not depths:
        raise SpecInputError("depths is empty")
    for d in depths:
        _checks.positive_int("depths[i]", d)
    return _depth_sweep(activation, weight_std, width, depths, seeds, seed, input_scale)


@functools.lru_cache(maxsize=64)
def _depth_sweep(activation, weight_std, width, depths, seeds, seed, input_scale) -> DepthSweep:
    rows, fwd_rows = [], []
    for d in depths:
        row, fwd = [], []
        for k in range(seeds):
            s = sweep_seed(d, k, seed)
            net = mlp(width, width, width, depth=d, activation=activation, weight_std=weight_std, bias=False, seed=s)
            g = torch.Generator().manual_seed(s)
            x = (input_scale * torch.randn(1, width, generator=g, dtype=torch.float64)).requires_grad_(True)
            u = torch.randn(1, width, generator=g, dtype=torch.float64)
            u = u / u.norm()
            out = net(x)
            (grad,) = torch.autograd.grad((out * u).sum(), x)
            row.append(math.log(grad.norm().item()))
            fwd.append(math.log(out.detach().norm().item()) - math.log(x.detach().norm().item()))
        rows.append(tuple(row))
        fwd_rows.append(tuple(fwd))
    return DepthSweep(activation, weight_std, width, depths, tuple(rows), tuple(fwd_rows))


def nonlinear_slope_tolerance(width: int, depths: Sequence[int], seeds: int) -> float:
    """Allowed |fitted slope - mean-field slope| of a ``depth_sweep`` of a ReLU/tanh/sigmoid MLP.

    Per layer the log of the squared gain is log(s^2 chi^2_n) plus the log of a mean of n derivative^2 terms
    relative to its expectation: variance about 2/n + 3/n (the ReLU 0/1 mask: relative variance 1/n of a
    Bernoulli(1/2) mean, times 3, the fourth moment of Gaussian gradient entries; smooth activations vary
    less), so 5/(4n) per layer for the log-norm. Statistical part: 4 standard errors of the least-squares slope
    of the seed means. Systematic part: the finite-width bias of E log (-1/(2n) from the chi^2, about -3/(4n)
    from the mask, 5/(4n) in all) is below the 2/n allowed.
    """
    return 4 * nonlinear_slope_standard_error(width, depths, seeds) + 2 / width


def nonlinear_slope_standard_error(width: int, depths: Sequence[int], seeds: int) -> float:
    """The statistical part of ``nonlinear_slope_tolerance``: the standard error of the fitted slope, from a
    per-layer log-norm variance of 5/(4n) averaged over ``seeds`` networks per depth."""
    _checks.positive_int("width", width)
    _checks.positive_int("seeds", seeds)
    depths = [_checks.positive_int("depths[i]", d) for d in depths]
    return slope_standard_error(depths, [d * 5 / (4 * width) / seeds for d in depths])


def _fan_ins(fan_ins) -> list[int]:
    if isinstance(fan_ins, int):
        fan_ins = [fan_ins]
    out = list(fan_ins)
    if not out:
        raise SpecInputError("fan_ins is empty")
    for n in out:
        _checks.positive_int("fan_ins[i]", n)
    return out


def gaussian_chain_log_norm_mean(weight_std: float, fan_ins) -> float:
    """E log ||W_1^T W_2^T ... W_L^T u|| for ||u|| = 1 and independent W_l with iid N(0, s^2) entries, W_l having
    fan_ins[l] columns: exactly sum_l 1/2 [log s^2 + digamma(n_l / 2) + log 2].

    Why: for a fixed v, W^T v has iid N(0, s^2 ||v||^2) entries (one per column), so ||W^T v||^2 / ||v||^2
    ~ s^2 chi^2_{n}, whatever v is; the factors of the chain are therefore independent, and
    E log chi^2_n = digamma(n/2) + log 2. For large n this is log(s^2 n) - 1/n + O(1/n^2): the per-layer
    gain of the norm is s sqrt(n).
    """
    s = _checks.positive_float("weight_std", weight_std)
    ns = torch.tensor(_fan_ins(fan_ins), dtype=torch.float64)
    return float((0.5 * (math.log(s * s) + torch.special.digamma(ns / 2) + math.log(2))).sum())


def gaussian_chain_log_norm_variance(fan_ins) -> float:
    """Var log ||W_1^T ... W_L^T u|| for the chain above: sum_l trigamma(n_l / 2) / 4 (independent factors,
    Var log chi^2_n = trigamma(n/2)); it does not depend on the weight std."""
    ns = torch.tensor(_fan_ins(fan_ins), dtype=torch.float64)
    return float((torch.special.polygamma(1, ns / 2) / 4).sum())


_ArrayFn = Callable[[np.ndarray], np.ndarray]
_MEAN_FIELD_ACTIVATIONS: dict[str, tuple[_ArrayFn, _ArrayFn] | None] = {  # (phi, phi'); None: closed form
    "linear": None,
    "relu": None,
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (lambda a: 1.0 / (1.0 + np.exp(-a)), lambda a: np.exp(-a) / (1.0 + np.exp(-a)) ** 2),
}


def mean_field_log_norm(activation: str, sigma_w2: float, depth: int, *, q_input: float = 1.0,
                        nodes: int = 101) -> float:
    """Wide-network (mean-field) prediction of log ||d(u . f(x)) / dx|| for a bias-free MLP of ``depth`` layers
    with weights N(0, sigma_w2 / width), ||u|| = 1 and mean squared input entry ``q_input``:

        1/2 [depth * log sigma_w2 + sum_{l=1}^{depth-1} log E phi'(sqrt(q_l) z)^2],
        q_1 = sigma_w2 * q_input,   q_{l+1} = sigma_w2 * E phi(sqrt(q_l) z)^2,   z ~ N(0, 1)

    (Poole et al. 2016; Schoenholz et al. 2017, eq. 5-7: each Linear layer multiplies the expected squared
    gradient norm by sigma_w2, each activation by E phi'^2; Gauss-Hermite quadrature with ``nodes`` nodes).
    linear: depth/2 log sigma_w2. ReLU: E phi'^2 = 1/2, the factor of He et al. 2015. Finite width adds
    O(1/width) per layer (see ``gaussian_chain_log_norm_mean`` for the exact linear case).
    """
    if activation not in _MEAN_FIELD_ACTIVATIONS:
        raise SpecInputError(f"unknown activation {activation!r}; expected one of {sorted(_MEAN_FIELD_ACTIVATIONS)}")
    sigma_w2 = _checks.positive_float("sigma_w2", sigma_w2)
    _checks.positive_int("depth", depth)
    q = sigma_w2 * _checks.positive_float("q_input", q_input, allow_zero=True)
    _checks.positive_int("nodes", nodes, minimum=2)
    # closed forms for linear and ReLU: E phi'^2 = 1 and 1/2 (a quadrature node at 0 would bias ReLU's)
    if activation in ("linear", "relu"):
        return 0.5 * (depth * math.log(sigma_w2) + (depth - 1) * math.log(1.0 if activation == "linear" else 0.5))
    phi, dphi = _MEAN_FIELD_ACTIVATIONS[activation]
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    total = depth * math.log(sigma_w2)
    for _ in range(depth - 1):
        a = math.sqrt(q) * z
        total += math.log(float(np.sum(w * dphi(a) ** 2)))
        q = sigma_w2 * float(np.sum(w * phi(a) ** 2))
    return 0.5 * total



# ================================================================ slopes over a range of weight scales
# (added for remedy.relu: the slope per layer of ReLU, tanh and sigmoid nets as the weight std sweeps through the
# point where ReLU's growth overtakes tanh's)
def depth_sweeps_over_stds(activation: str, weight_stds: Sequence[float], *, width: int, depths: Sequence[int],
                           seeds: int, seed: int = 0, input_scale: float = 1.0) -> tuple[DepthSweep, ...]:
    """``depth_sweep(activation, s, ...)`` for every s in ``weight_stds``, computed in one pass.

    The networks are those of ``depth_sweep`` (same seeds, inputs and directions): ``mlp`` draws weight_std
    times the same standard normals whatever the std, so each network is built once at std 1 and every std
    is a row of one batch, each layer's output scaled by the std. The results agree with ``depth_sweep`` up to
    rounding (the std multiplies float64 values here, float32 draws there; see the self-test), at a fraction
    of the cost of one ``depth_sweep`` per std. Cached like ``depth_sweep``.
    """
    if activation not in ACTIVATIONS:
        raise SpecInputError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    if isinstance(weight_stds, (str, bytes)) or not isinstance(weight_stds, Iterable):
        raise SpecInputError(f"weight_stds must be a sequence of positive numbers, got {weight_stds!r}")
    stds = tuple(_checks.positive_float("weight_stds[i]", s) for s in weight_stds)
    if not stds:
        raise SpecInputError("weight_stds is empty")
    _checks.positive_int("width", width)
    _checks.positive_int("seeds", seeds)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SpecInputError(f"seed must be an int, got {seed!r}")
    input_scale = _checks.positive_float("input_scale", input_scale)
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Iterable):
        raise SpecInputError(f"depths must be a sequence of positive ints, got {depths!r}")
    depths = tuple(depths)
    if not depths:
        raise SpecInputError("depths is empty")
    for d in depths:
        _checks.positive_int("depths[i]", d)
    return _depth_sweeps_over_stds(activation, stds, width, depths, seeds, seed, input_scale)


@functools.lru_cache(maxsize=8)
def _unit_std_networks(width, depths, seeds, seed, input_scale):
    """Per (depth, k): the weight matrices of depth_sweep's network at std 1, its input x and unit direction u."""
    nets = {}
    for d in depths:
        for k in range(seeds):
            s = sweep_seed(d, k, seed)
            net = mlp(width, width, width, depth=d, activation="linear", weight_std=1.0, bias=False, seed=s)
            weights = tuple(m.weight.detach() for m in net if isinstance(m, nn.Linear))
            g = torch.Generator().manual_seed(s)  # the draws of _depth_sweep, in its order
            x = input_scale * torch.randn(1, width, generator=g, dtype=torch.float64)
            u = torch.randn(1, width, generator=g, dtype=torch.float64)
            nets[(d, k)] = (weights, x, u / u.norm())
    return nets


@functools.lru_cache(maxsize=32)
def _depth_sweeps_over_stds(activation, stds, width, depths, seeds, seed, input_scale) -> tuple[DepthSweep, ...]:
    nets = _unit_std_networks(width, depths, seeds, seed, input_scale)
    phi = ACTIVATIONS[activation]()
    scale = torch.tensor(stds, dtype=torch.float64)[:, None]  # one row per std
    m = len(stds)
    rows = [[[None] * seeds for _ in depths] for _ in range(m)]
    fwd_rows = [[[None] * seeds for _ in depths] for _ in range(m)]
    for i, d in enumerate(depths):
        for k in range(seeds):
            weights, x, u = nets[(d, k)]
            xb = x.expand(m, width).clone().requires_grad_(True)
            h = xb
            for layer, w in enumerate(weights):
                h = scale * (h @ w.T)  # = h @ (std * W)^T
                if layer < d - 1:
                    h = phi(h)
            (grad,) = torch.autograd.grad((h * u).sum(), xb)  # rows are independent: row j is d(u.f_j(x))/dx
            log_norms = torch.log(torch.linalg.vector_norm(grad, dim=1)).tolist()
            gains = (torch.log(torch.linalg.vector_norm(h.detach(), dim=1)) - math.log(x.norm().item())).tolist()
            for j in range(m):
                rows[j][i][k] = log_norms[j]
                fwd_rows[j][i][k] = gains[j]
    return tuple(
        DepthSweep(activation, std, width, depths, tuple(tuple(r) for r in rows[j]),
                   tuple(tuple(r) for r in fwd_rows[j]))
        for j, std in enumerate(stds)
    )


# Expectations over z ~ N(0, 1) for the functions below: the trapezoid rule on [-12, 12] with step 1/100. For an
# integrand analytic in a strip |Im z| < a it converges like exp(-2 pi a / h) (Trefethen & Weideman 2014, The
# exponentially convergent trapezoidal rule, SIAM Review 56(3), thm 5.1); tanh'(sqrt(q) z) has its poles at
# |Im z| = pi / (2 sqrt(q)) (0.39 at q = 16; sigmoid's are twice as far), so the relative error is below 1e-13 for
# q up to ~1000 (e^-245 at q = 16), and the tails beyond |z| = 12 weigh e^-72. (Gauss-Hermite with 101 nodes, as
# mean_field_log_norm uses, is off by 0.3% in E tanh'^2 at q = 6 and by 9% at q = 16: a polynomial rule resolves
# the narrow peak of tanh'(sqrt(q) z)^2 poorly.)
_GRID_Z = np.linspace(-12.0, 12.0, 2401)
_GRID_W = np.exp(-0.5 * _GRID_Z**2)
_GRID_W[[0, -1]] *= 0.5
_GRID_W /= _GRID_W.sum()


def mean_field_log_norms(activation: str, sigma_w2: float, depths: Sequence[int], *,
                         q_input: float = 1.0) -> tuple[float, ...]:
    """The mean-field log-norm of ``mean_field_log_norm`` for every depth in ``depths``, from one pass down the
    variance recursion (it does not depend on the depth: a deeper net extends a shallower one), with the
    expectations by the trapezoid rule on a fine grid (accurate for pre-activations far into saturation)."""
    if activation not in _MEAN_FIELD_ACTIVATIONS:
        raise SpecInputError(f"unknown activation {activation!r}; expected one of {sorted(_MEAN_FIELD_ACTIVATIONS)}")
    sigma_w2 = _checks.positive_float("sigma_w2", sigma_w2)
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Iterable):
        raise SpecInputError(f"depths must be a sequence of positive ints, got {depths!r}")
    depths = [_checks.positive_int("depths[i]", d) for d in depths]
    if not depths:
        raise SpecInputError("depths is empty")
    q = sigma_w2 * _checks.positive_float("q_input", q_input, allow_zero=True)
    if activation in ("linear", "relu"):  # closed forms
        return tuple(mean_field_log_norm(activation, sigma_w2, d) for d in depths)
    phi, dphi = _MEAN_FIELD_ACTIVATIONS[activation]
    logs = [0.0]  # logs[l] = the sum of the first l terms log E phi'(h_l)^2
    for _ in range(max(depths) - 1):
        a = math.sqrt(q) * _GRID_Z
        logs.append(logs[-1] + math.log(float(np.sum(_GRID_W * dphi(a) ** 2))))
        q = sigma_w2 * float(np.sum(_GRID_W * phi(a) ** 2))
    return tuple(0.5 * (d * math.log(sigma_w2) + logs[d - 1]) for d in depths)


def mean_field_slope(activation: str, sigma_w2: float, depths: Sequence[int], *, q_input: float = 1.0) -> float:
    """The least-squares slope against depth of ``mean_field_log_norms`` over ``depths``: the prediction for
    ``DepthSweep.fit().slope`` (the same estimator applied to the wide-network limit, transient included)."""
    depths = tuple(depths) if isinstance(depths, Iterable) and not isinstance(depths, (str, bytes)) else depths
    return fit_line(depths, mean_field_log_norms(activation, sigma_w2, depths, q_input=q_input)).slope


def mean_field_derivative_dispersion(activation: str, sigma_w2: float, depth: int, *, q_input: float = 1.0) -> float:
    """r = max over the activations of a depth-``depth`` net of Var[phi'(h)^2] / E[phi'(h)^2]^2, h ~ N(0, q_l)
    with the mean-field variances q_l of ``mean_field_log_norm``: how unevenly the units of a layer pass the
    gradient. ReLU: phi'^2 is Bernoulli(1/2), r = 1 exactly; linear: r = 0; tanh/sigmoid: r grows as the
    pre-activations spread into saturation (some units pass ~phi'(0), the others ~0). 0 for depth 1. Expectations
    on the grid of ``mean_field_log_norms``."""
    if activation not in _MEAN_FIELD_ACTIVATIONS:
        raise SpecInputError(f"unknown activation {activation!r}; expected one of {sorted(_MEAN_FIELD_ACTIVATIONS)}")
    sigma_w2 = _checks.positive_float("sigma_w2", sigma_w2)
    _checks.positive_int("depth", depth)
    q = sigma_w2 * _checks.positive_float("q_input", q_input, allow_zero=True)
    if depth == 1 or activation == "linear":
        return 0.0
    if activation == "relu":
        return 1.0  # E relu'^2 = E relu'^4 = 1/2: 1/2 / (1/2)^2 - 1
    phi, dphi = _MEAN_FIELD_ACTIVATIONS[activation]
    worst = 0.0
    for _ in range(depth - 1):  # the variance recursion of mean_field_log_norms, on the same grid
        a = math.sqrt(q) * _GRID_Z
        d2 = dphi(a) ** 2
        m2 = float(np.sum(_GRID_W * d2))
        worst = max(worst, float(np.sum(_GRID_W * d2**2)) / m2**2 - 1.0)
        q = sigma_w2 * float(np.sum(_GRID_W * phi(a) ** 2))
    return worst


def mean_field_slope_tolerance(activation: str, sigma_w2: float, width: int, depths: Sequence[int], seeds: int, *,
                               q_input: float = 1.0) -> float:
    """Allowed |fitted slope - ``mean_field_slope``| of a ``depth_sweep`` at any weight scale: the derivation of
    ``nonlinear_slope_tolerance`` with the ReLU mask's dispersion 1 replaced by r =
    ``mean_field_derivative_dispersion`` (which exceeds 1 for tanh deep in saturation).

    Per layer the squared gain is s^2 chi^2_n / n (relative variance 2/n) times a mean of phi'^2 over the units
    weighted by the squared (Gaussian) gradient entries (relative variance 3r/n: E g^4 / (E g^2)^2 = 3), so the
    log-norm has variance v = (2 + 3r)/(4n) per layer and, by Jensen, a bias of about -v. Statistical part: 4
    standard errors of the slope of the seed means. Systematic part: 1.6 v per layer, the margin
    ``nonlinear_slope_tolerance`` allows (2/n for its bias 5/(4n)); for r = 1 the two functions agree.
    """
    _checks.positive_int("width", width)
    _checks.positive_int("seeds", seeds)
    depths = [_checks.positive_int("depths[i]", d) for d in depths]
    r = mean_field_derivative_dispersion(activation, sigma_w2, max(depths), q_input=q_input)
    v = (2 + 3 * r) / (4 * width)
    return 4 * slope_standard_error(depths, [d * v / seeds for d in depths]) + 1.6 * v
