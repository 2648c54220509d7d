"""Predictions the experiments are held against: the exact log-norm law of a chain of Gaussian linear layers
(``gaussian_chain_log_norm_mean`` / ``_variance``), the wide-network (mean-field) log-norm of an MLP's input
gradient for any activation (``mean_field_log_norm``, ``mean_field_log_norms``, ``mean_field_slope``), and the
tolerances of a measured slope against them (``nonlinear_slope_tolerance``, ``mean_field_slope_tolerance``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from support import _arguments
from support.errors import SpecInputError
from support.fits import fit_line, slope_standard_error


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
    _arguments.positive_int("width", width)
    _arguments.positive_int("seeds", seeds)
    depths = _depths(depths)
    return slope_standard_error(depths, [d * 5 / (4 * width) / seeds for d in depths])


def _depths(depths) -> list[int]:
    """``depths`` as a non-empty list of positive ints, or SpecInputError (the one check of every function here that
    takes depths)."""
    return _arguments.positive_ints("depths", depths)


def _fan_ins(fan_ins) -> list[int]:
    if isinstance(fan_ins, int):
        fan_ins = [fan_ins]
    out = list(fan_ins)
    if not out:
        raise SpecInputError("fan_ins is empty")
    for n in out:
        _arguments.positive_int("fan_ins[i]", n)
    return out


def gaussian_chain_log_norm_mean(weight_std: float, fan_ins) -> float:
    """E log ||W_1^T W_2^T ... W_L^T u|| for ||u|| = 1 and independent W_l with iid N(0, s^2) entries, W_l having
    fan_ins[l] columns: exactly sum_l 1/2 [log s^2 + digamma(n_l / 2) + log 2].

    Why: for a fixed v, W^T v has iid N(0, s^2 ||v||^2) entries (one per column), so ||W^T v||^2 / ||v||^2
    ~ s^2 chi^2_{n}, whatever v is; the factors of the chain are therefore independent, and
    E log chi^2_n = digamma(n/2) + log 2. For large n this is log(s^2 n) - 1/n + O(1/n^2): the per-layer
    gain of the norm is s sqrt(n).
    """
    s = _arguments.positive_float("weight_std", weight_std)
    ns = torch.tensor(_fan_ins(fan_ins), dtype=torch.float64)
    return float((0.5 * (math.log(s * s) + torch.special.digamma(ns / 2) + math.log(2))).sum())


def gaussian_chain_log_norm_variance(fan_ins) -> float:
    """Var log ||W_1^T ... W_L^T u|| for the chain above: sum_l trigamma(n_l / 2) / 4 (independent factors,
    Var log chi^2_n = trigamma(n/2)); it does not depend on the weight std."""
    ns = torch.tensor(_fan_ins(fan_ins), dtype=torch.float64)
    return float((torch.special.polygamma(1, ns / 2) / 4).sum())


def log_chi2_sum_tail(terms: Sequence[tuple[float, int]], threshold: float, n: int) -> float:
    """A Chernoff bound on P(|S - E S| >= threshold) for S = sum_j c_j X_j, the X_j independent copies of
    1/2 log chi^2_n (the log-gain of one Gaussian layer of fan-in n; see gaussian_chain_log_norm_variance).

    ``terms`` lists (c, count): ``count`` copies with coefficient c. Each tail is bounded by
    min over lambda > 0 of exp(-lambda threshold + sum count K(+-lambda c)), K the centred cumulant generating function
    K(t) = t/2 log 2 + lgamma((n + t)/2) - lgamma(n/2) - t E X, from E (chi^2_n)^(t/2) = 2^(t/2) Gamma((n + t)/2) /
    Gamma(n/2) for t > -n; the minimum is taken over a grid of lambda, and any lambda gives a valid bound."""
    n = _arguments.positive_int("n", n)
    threshold = _arguments.number("threshold", threshold, above=0)
    terms = [(_arguments.number("coefficient", c), _arguments.positive_int("count", k)) for c, k in terms]
    if not terms or all(c == 0 for c, _ in terms):
        raise SpecInputError("terms must hold at least one non-zero coefficient")
    mean = (float(torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64))) + math.log(2)) / 2

    def cgf(t: float) -> float:
        return t / 2 * math.log(2) + math.lgamma((n + t) / 2) - math.lgamma(n / 2) - t * mean

    largest = max(abs(c) for c, _ in terms)
    grid = [n / largest * 10 ** (-6 + 6 * i / 4000) * 0.999 for i in range(4001)]  # lambda |c| < n keeps K finite
    total = 0.0
    for sign in (1.0, -1.0):
        exponent = min(-lam * threshold + sum(k * cgf(sign * lam * c) for c, k in terms) for lam in grid)
        total += math.exp(min(exponent, 0.0))
    return min(total, 1.0)


_ArrayFn = Callable[[np.ndarray], np.ndarray]
_MEAN_FIELD_ACTIVATIONS: dict[str, tuple[_ArrayFn, _ArrayFn] | None] = {  # (phi, phi'); None: closed form
    "linear": None,
    "relu": None,
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (lambda a: 1.0 / (1.0 + np.exp(-a)), lambda a: np.exp(-a) / (1.0 + np.exp(-a)) ** 2),
}


def mean_field_log_norm(activation: str, sigma_w2: float, depth: int, *, q_input: float = 1.0) -> float:
    """Wide-network (mean-field) prediction of log ||d(u . f(x)) / dx|| for a bias-free MLP of ``depth`` layers
    with weights N(0, sigma_w2 / width), ||u|| = 1 and mean squared input entry ``q_input``:

        1/2 [depth * log sigma_w2 + sum_{l=1}^{depth-1} log E phi'(sqrt(q_l) z)^2],
        q_1 = sigma_w2 * q_input,   q_{l+1} = sigma_w2 * E phi(sqrt(q_l) z)^2,   z ~ N(0, 1)

    (Poole et al. 2016; Schoenholz et al. 2017, eq. 5-7: each Linear layer multiplies the expected squared
    gradient norm by sigma_w2, each activation by E phi'^2; expectations as in ``mean_field_log_norms``).
    linear: depth/2 log sigma_w2. ReLU: E phi'^2 = 1/2, the factor of He et al. 2015. Finite width adds
    O(1/width) per layer (see ``gaussian_chain_log_norm_mean`` for the exact linear case).
    """
    return mean_field_log_norms(activation, sigma_w2, [_arguments.positive_int("depth", depth)], q_input=q_input)[0]


# Expectations over z ~ N(0, 1) for the functions below: the trapezoid rule on [-12, 12] with step 1/100. For an
# integrand analytic in a strip |Im z| < a it converges like exp(-2 pi a / h) (Trefethen & Weideman 2014, The
# exponentially convergent trapezoidal rule, SIAM Review 56(3), thm 5.1); tanh'(sqrt(q) z) has its poles at
# |Im z| = pi / (2 sqrt(q)) (0.39 at q = 16; sigmoid's are twice as far), so the relative error is below 1e-13 for
# q up to ~1000 (e^-245 at q = 16), and the tails beyond |z| = 12 weigh e^-72. (Gauss-Hermite with 101 nodes is
# off by 0.3% in E tanh'^2 at q = 6 and by 9% at q = 16: a polynomial rule resolves the narrow peak of
# tanh'(sqrt(q) z)^2 poorly.)
_GRID_Z = np.linspace(-12.0, 12.0, 2401)
_GRID_W = np.exp(-0.5 * _GRID_Z**2)
_GRID_W[[0, -1]] *= 0.5
_GRID_W /= _GRID_W.sum()


def mean_field_log_norms(
    activation: str, sigma_w2: float, depths: Sequence[int], *, q_input: float = 1.0
) -> tuple[float, ...]:
    """``mean_field_log_norm`` for every depth in ``depths``, from one pass down the
    variance recursion (it does not depend on the depth: a deeper net extends a shallower one), with the
    expectations by the trapezoid rule on a fine grid (accurate for pre-activations far into saturation)."""
    _arguments.one_of("activation", activation, sorted(_MEAN_FIELD_ACTIVATIONS))
    sigma_w2 = _arguments.positive_float("sigma_w2", sigma_w2)
    depths = _depths(depths)
    q = sigma_w2 * _arguments.positive_float("q_input", q_input, allow_zero=True)
    if activation in ("linear", "relu"):  # closed forms, E phi'^2 = 1 and 1/2 (a grid node at 0 would bias ReLU's)
        log_gain = 0.0 if activation == "linear" else math.log(0.5)
        return tuple(0.5 * (d * math.log(sigma_w2) + (d - 1) * log_gain) for d in depths)
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
    depths = _depths(depths)
    return fit_line(depths, mean_field_log_norms(activation, sigma_w2, depths, q_input=q_input)).slope


def mean_field_derivative_dispersion(activation: str, sigma_w2: float, depth: int, *, q_input: float = 1.0) -> float:
    """r = max over the activations of a depth-``depth`` net of Var[phi'(h)^2] / E[phi'(h)^2]^2, h ~ N(0, q_l)
    with the mean-field variances q_l of ``mean_field_log_norm``: how unevenly the units of a layer pass the
    gradient. ReLU: phi'^2 is Bernoulli(1/2), r = 1 exactly; linear: r = 0; tanh/sigmoid: r grows as the
    pre-activations spread into saturation (some units pass ~phi'(0), the others ~0). 0 for depth 1. Expectations
    on the grid of ``mean_field_log_norms``."""
    _arguments.one_of("activation", activation, sorted(_MEAN_FIELD_ACTIVATIONS))
    sigma_w2 = _arguments.positive_float("sigma_w2", sigma_w2)
    _arguments.positive_int("depth", depth)
    q = sigma_w2 * _arguments.positive_float("q_input", q_input, allow_zero=True)
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


def mean_field_slope_tolerance(
    activation: str, sigma_w2: float, width: int, depths: Sequence[int], seeds: int, *, q_input: float = 1.0
) -> float:
    """Allowed |fitted slope - ``mean_field_slope``| of a ``depth_sweep`` at any weight scale: the derivation of
    ``nonlinear_slope_tolerance`` with the ReLU mask's dispersion 1 replaced by r =
    ``mean_field_derivative_dispersion`` (which exceeds 1 for tanh deep in saturation).

    Per layer the squared gain is s^2 chi^2_n / n (relative variance 2/n) times a mean of phi'^2 over the units
    weighted by the squared (Gaussian) gradient entries (relative variance 3r/n: E g^4 / (E g^2)^2 = 3), so the
    log-norm has variance v = (2 + 3r)/(4n) per layer and, by Jensen, a bias of about -v. Statistical part: 4
    standard errors of the slope of the seed means. Systematic part: 1.6 v per layer, the margin
    ``nonlinear_slope_tolerance`` allows (2/n for its bias 5/(4n)); for r = 1 the two functions agree.
    """
    _arguments.positive_int("width", width)
    _arguments.positive_int("seeds", seeds)
    depths = _depths(depths)
    r = mean_field_derivative_dispersion(activation, sigma_w2, max(depths), q_input=q_input)
    v = (2 + 3 * r) / (4 * width)
    return 4 * slope_standard_error(depths, [d * v / seeds for d in depths]) + 1.6 * v
