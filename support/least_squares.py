"""Least squares with nn.Linear and MSELoss: its curvature, its solution, and the exact spread of SGD around it.

* ``least_squares_problem``: the shared problem of the learning-rate claims (64 samples, 16 features, no noise).
* ``least_squares_curvature``: the curvature constants of the MSE least-squares problem of ``nn.Linear``
  (features x~ = [x, 1] with a bias), in MSELoss's own convention (no 1/2: the Hessian of sample i's loss is
  H_i = 2 x~_i x~_i^T, the mean loss's is H = (2/N) X~^T X~): ``lambda_max`` / ``lambda_min`` of H, and
  ``beta`` = max_i 2 ||x~_i||^2, the largest per-sample curvature (``beta_min`` the smallest). From them:
  full-batch GD's limit 2/lambda_max (exact on a quadratic); Ma, Bassily & Belkin 2018 (arXiv:1712.06559,
  "The power of interpolation", sec. 3) for minibatches of m drawn with replacement: the optimal step
  eta*(m) = m / (beta + (m - 1) lambda_max), convergence in expectation for any lr < 2 eta*(m), critical
  batch size m* = beta / lambda_max + 1; 2/beta, below which every per-sample step is non-expansive in any
  order; 2/beta_min, above which every per-sample step expands the error.
* ``least_squares_solution`` and ``gd_detection_margin``: the optimum w*, and how far above 2/lambda_max full-batch
  GD must be for ``support.stability.classify_runs`` to call it diverged.
* ``sgd_spread_at_optimum``: the exact mean squared distance from the optimum after T steps of with-replacement SGD
  started there (a linear recursion of the second moment); ``sgd_expected_distance`` the same from any start on
  data a linear model fits exactly.

The SGD runs themselves (many at once, and the largest stable learning rate they find) are in ``support.stability``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from support import _arguments
from support.data import regression
from support.errors import SpecInputError
from support.models import linear_model

# ================================================================ the shared problem
PROBLEM_N, PROBLEM_D, PROBLEM_SEED = 64, 16, 61


def least_squares_problem(device: str | torch.device = "cpu", *, noise: float = 0.0):
    """(x, y, init): support.data.regression(64, 16, 1, noise=noise, seed=61) in float64 on ``device`` and a fresh
    linear_model(16, 1, seed=61) to start from. With noise=0, y is exactly linear in x with a zero intercept, so
    nn.Linear can fit every sample (interpolation, the setting of Ma et al.'s analysis); 64 samples of 17 features
    (with the bias) make the least-squares solution unique and the mean Hessian positive definite."""
    x, y = regression(PROBLEM_N, PROBLEM_D, 1, noise=noise, seed=PROBLEM_SEED, device=device)
    return x, y, linear_model(PROBLEM_D, 1, seed=PROBLEM_SEED, device=device)


# ================================================================ curvature of least squares
def _features(x: torch.Tensor, bias: bool) -> torch.Tensor:
    _arguments.tensor("x", x, dim=2, floating=True)
    if x.shape[0] == 0:
        raise SpecInputError("x is an empty batch")
    x = x.to(dtype=torch.float64)
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], dim=1) if bias else x


@dataclass(frozen=True)
class LeastSquaresCurvature:
    """Curvature constants of mean-MSE least squares, in MSELoss's convention (see the module docstring)."""

    n: int
    lambda_max: float  # top eigenvalue of the mean loss Hessian H = (2/N) X~^T X~
    lambda_min: float  # its smallest eigenvalue (0 when the features do not span)
    beta: float  # max_i 2 ||x~_i||^2: the largest eigenvalue of any per-sample Hessian
    beta_min: float  # min_i 2 ||x~_i||^2

    def eta_star(self, m: int) -> float:
        """Ma et al.'s optimal step for minibatches of m drawn with replacement: m / (beta + (m - 1) lambda_max)."""
        _arguments.positive_int("m", m)
        return m / (self.beta + (m - 1) * self.lambda_max)

    def guarantee_edge(self, m: int) -> float:
        """2 eta*(m): below it with-replacement SGD contracts E||w - w*||^2 every step; the edge of the guarantee,
        not a divergence point."""
        return 2.0 * self.eta_star(m)

    @property
    def critical_batch(self) -> float:
        """m* = beta / lambda_max + 1: below it eta*(m) grows about linearly in m, above it it saturates towards
        1/lambda_max."""
        return self.beta / self.lambda_max + 1.0

    @property
    def gd_limit(self) -> float:
        """2 / lambda_max: full-batch gradient descent converges below it and diverges above it (exact)."""
        return 2.0 / self.lambda_max

    @property
    def nonexpansive_limit(self) -> float:
        """2 / beta: at or below it every SGD step (any batch, any order) is non-expansive in ||w - w*||."""
        return 2.0 / self.beta

    @property
    def expansive_above(self) -> float:
        """2 / beta_min: above it every single-sample step strictly lengthens w - w* along that sample's x~_i."""
        return 2.0 / self.beta_min

    @property
    def condition(self) -> float:
        """lambda_max / lambda_min: bounds loss(w) / loss(w') by ||w - w*||^2 / ||w' - w*||^2 times this."""
        return self.lambda_max / self.lambda_min if self.lambda_min > 0 else math.inf


def least_squares_curvature(x: torch.Tensor, *, bias: bool = True) -> LeastSquaresCurvature:
    """Curvature constants of F.mse_loss(nn.Linear(d, 1)(x), y) as a function of (weight, bias) (float64, on CPU)."""
    xt = _features(x, bias).cpu()
    n = xt.shape[0]
    eig = torch.linalg.eigvalsh(2.0 * xt.T @ xt / n)
    sq = (xt * xt).sum(dim=1)
    return LeastSquaresCurvature(
        n=n,
        lambda_max=eig[-1].item(),
        lambda_min=max(eig[0].item(), 0.0),
        beta=2.0 * sq.max().item(),
        beta_min=2.0 * sq.min().item(),
    )


def least_squares_solution(x: torch.Tensor, y: torch.Tensor, *, bias: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight of shape (1, d), bias of shape (1,)) minimising the MSE of a linear model with one output
    (float64, on x's device); with ``bias=False`` the returned bias is 0."""
    _arguments.same_batch("x", x, "y", y)
    if y.dim() != 2 or y.shape[1] != 1:
        raise SpecInputError(f"y must have shape (N, 1), got {tuple(y.shape)}")
    xt = _features(x, bias).cpu()
    sol = torch.linalg.lstsq(xt, y.to(torch.float64).cpu(), driver="gelsd").solution[:, 0]
    d = x.shape[1]
    b = sol[d:] if bias else torch.zeros(1, dtype=torch.float64)
    return sol[:d].reshape(1, d).to(x.device), b.reshape(1).to(x.device)


def gd_detection_margin(
    x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, steps: int, factor: float
) -> float:
    """delta such that full-batch GD from (weight, bias) at any lr > (2/lambda_max)(1 + delta) ends ``steps`` steps
    farther than sqrt(factor) times its initial distance from the least-squares solution w* (so ``classify_runs``
    calls it diverged).

    Why: GD multiplies the component of e = w - w* along the top eigenvector v of H by (1 - lr lambda_max), which
    at lr = (2/lambda_max)(1 + delta) is -(1 + 2 delta), and leaves the other components orthogonal to it; so
    ||e_T||^2 >= c (1 + 2 delta)^(2T) ||e_0||^2, with c the share of ||e_0||^2 along v, exceeds factor ||e_0||^2
    once (1 + 2 delta)^(2T) > factor / c.
    """
    _arguments.positive_int("steps", steps)
    factor = _arguments.positive_float("factor", factor)
    w_star, b_star = least_squares_solution(x, y)
    d = x.shape[1]
    for name, value, shape in (("weight", weight, (1, d)), ("bias", bias, (1,))):
        _arguments.tensor(name, value, floating=True)
        if tuple(value.shape) != shape:
            raise SpecInputError(f"{name} must have shape {shape} (an nn.Linear({d}, 1)'s), got {tuple(value.shape)}")
    xt = _features(x, True).cpu()
    e = torch.cat(
        [
            (weight.detach().to(torch.float64).cpu() - w_star.cpu()).reshape(-1),
            (bias.detach().to(torch.float64).cpu() - b_star.cpu()).reshape(-1),
        ]
    )
    _, evecs = torch.linalg.eigh(2.0 * xt.T @ xt / xt.shape[0])
    share = ((evecs[:, -1] @ e) ** 2 / (e @ e)).item()
    if not share > 0:
        raise SpecInputError("the initial error has no component along the top Hessian eigenvector")
    return ((max(factor, 1.0) / share) ** (1.0 / (2 * steps)) - 1.0) / 2.0


# ================================================================ the spread of SGD around the optimum
def sgd_spread_at_optimum(
    x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, steps: int, first_order: bool = False
) -> float:
    """E ||w_T - w*||^2 (weight and bias) for SGD on F.mse_loss of an nn.Linear(d, 1) started at the least-squares
    solution w*, minibatches of ``batch_size`` drawn with replacement: exact, from the second-moment recursion

        S_{t+1} = (I - lr H) S_t (I - lr H) + lr^2 / B * (E_i[H_i S_t H_i] - H S_t H + Sigma*),   S_0 = 0,

    with H_i = 2 x~_i x~_i^T, H their mean and Sigma* = E_i[4 r_i^2 x~_i x~_i^T] (r_i the residuals at w*).
    Why: sample i's gradient is H_i e - 2 x~_i r_i with e = w - w*, so e' = (I - lr H_B) e + lr zeta_B; E e stays 0
    (the zeta_i average to 0 at w*), the batch is independent of e, and B draws with replacement make
    E[H_B S H_B] = H S H + (E_i[H_i S H_i] - H S H) / B and Cov(zeta_B) = Sigma* / B. Every noise term carries a
    1/B, so to first order in lr the spread falls as 1/B; the recursion keeps the higher orders.
    ``first_order=True`` drops the multiplicative-noise term lr^2/B (E_i[H_i S H_i] - H S H): what is left is
    exactly A/B, A = sum_{s<T} lr^2 (I - lr H)^s Sigma* (I - lr H)^s, the leading term of the 1/B expansion.
    """
    lr = _arguments.positive_float("lr", lr)
    _arguments.positive_int("batch_size", batch_size)
    _arguments.positive_int("steps", steps)
    xt = _features(x, True).cpu()
    r = _residuals_at_optimum(x, y, xt)
    sigma = 4.0 * (xt * (r * r)[:, None]).T @ xt / xt.shape[0]
    s0 = torch.zeros(xt.shape[1], xt.shape[1], dtype=torch.float64)
    return _second_moment(xt, s0, sigma, lr=lr, batch_size=batch_size, steps=steps, first_order=first_order)


def sgd_expected_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    steps: int,
) -> float:
    """E ||w_T - w*||^2 (weight and bias) for SGD on F.mse_loss of an nn.Linear(d, 1) started at (weight, bias),
    minibatches of ``batch_size`` drawn with replacement, on data the model fits exactly (zero residuals at the
    least-squares solution w*, else SpecInputError): exact, from the recursion of ``sgd_spread_at_optimum`` with
    Sigma* = 0 started at S_0 = e_0 e_0^T, e_0 = (weight, bias) - w*.
    Why: with zero residuals sample i's gradient is H_i e, so e' = (I - lr H_B) e and, the batch being independent
    of e, E[e' e'^T] = (I - lr H) S (I - lr H) + lr^2 / B (E_i[H_i S H_i] - H S H) with S = E[e e^T]. By Markov's
    inequality a run ends more than ``factor`` times farther (squared) than it started with probability at most
    E ||w_T - w*||^2 / (factor ||w_0 - w*||^2): how often the divergence verdict can call a stable run diverged.
    """
    lr = _arguments.positive_float("lr", lr)
    _arguments.positive_int("batch_size", batch_size)
    _arguments.positive_int("steps", steps)
    xt = _features(x, True).cpu()
    r = _residuals_at_optimum(x, y, xt)
    if not r.abs().max() <= 1e-10 * max(y.abs().max().item(), 1.0):
        raise SpecInputError(
            f"the data must be fitted exactly by a linear model (largest residual at the "
            f"least-squares solution {r.abs().max().item():.3g}); the recursion has no noise term"
        )
    w_star, b_star = least_squares_solution(x, y)
    e0 = torch.cat(
        [
            (weight.detach().to(torch.float64).cpu() - w_star.cpu()).reshape(-1),
            (bias.detach().to(torch.float64).cpu() - b_star.cpu()).reshape(-1),
        ]
    )
    if e0.shape[0] != xt.shape[1]:
        raise SpecInputError(
            f"weight and bias must be an nn.Linear({x.shape[1]}, 1)'s, got {tuple(weight.shape)} "
            f"and {tuple(bias.shape)}"
        )
    zero = torch.zeros(xt.shape[1], xt.shape[1], dtype=torch.float64)
    return _second_moment(xt, torch.outer(e0, e0), zero, lr=lr, batch_size=batch_size, steps=steps)


def _residuals_at_optimum(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    w_star, b_star = least_squares_solution(x, y)
    return y.to(torch.float64).cpu()[:, 0] - xt @ torch.cat([w_star.cpu()[0], b_star.cpu()])


def _second_moment(
    xt: torch.Tensor,
    s: torch.Tensor,
    sigma: torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    steps: int,
    first_order: bool = False,
) -> float:
    """trace S_T of S_{t+1} = (I - lr H) S_t (I - lr H) + lr^2 / B (E_i[H_i S_t H_i] - H S_t H + Sigma*)."""
    n, p = xt.shape
    h = 2.0 * xt.T @ xt / n
    a = torch.eye(p, dtype=torch.float64) - lr * h
    for _ in range(steps):
        if first_order:
            s = a @ s @ a + lr * lr / batch_size * sigma
            continue
        q = ((xt @ s) * xt).sum(dim=1)  # x~_i^T S x~_i
        mixed = 4.0 * (xt * q[:, None]).T @ xt / n  # E_i[H_i S H_i]
        s = a @ s @ a + lr * lr / batch_size * (mixed - h @ s @ h + sigma)
    return torch.trace(s).item()
