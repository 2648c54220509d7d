"""How large a learning rate SGD tolerates on least squares, and how that depends on the batch size.

* ``least_squares_curvature``: the curvature constants of the MSE least-squares problem of ``nn.Linear``
  (features x~ = [x, 1] with a bias), in MSELoss's own convention (no 1/2: the Hessian of sample i's loss is
  H_i = 2 x~_i x~_i^T, the mean loss's is H = (2/N) X~^T X~): ``lambda_max`` / ``lambda_min`` of H, and
  ``beta`` = max_i 2 ||x~_i||^2, the largest per-sample curvature (``beta_min`` the smallest). From them:
  full-batch GD's limit 2/lambda_max (exact on a quadratic); Ma, Bassily & Belkin 2018 (arXiv:1712.06559,
  "The power of interpolation", sec. 3) for minibatches of m drawn with replacement: the optimal step
  eta*(m) = m / (beta + (m - 1) lambda_max), convergence in expectation for any lr < 2 eta*(m), critical
  batch size m* = beta / lambda_max + 1; 2/beta, below which every per-sample step is non-expansive in any
  order; 2/beta_min, above which every per-sample step expands the error.
* ``parallel_sgd``: many independent SGD runs at once -- one ``nn.Linear(d, K)`` is K linear models side by
  side, each with its own batch size, learning rate and minibatch sequence, stepped by one torch.optim.SGD at the
  largest of the learning rates (the others' losses are scaled by their ratio to it).
* ``classify_runs`` / ``stability_thresholds``: the operational "diverged" verdict and the largest stable
  learning rate per batch size, by bisection on a grid of learning rates per round (all runs vectorised).
* ``least_squares_solution`` / ``sgd_spread_at_optimum``: the exact mean squared distance from the optimum
  after T steps of with-replacement SGD started there (a linear recursion of the second moment);
  ``sgd_expected_distance`` the same from any start on data a linear model fits exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from support import _arguments
from support.data import regression
from support.errors import SpecInputError
from support.fits import finite
from support.models import linear_model

SAMPLING = ("with-replacement", "reshuffled", "fixed-order")


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
    return LeastSquaresCurvature(n=n, lambda_max=eig[-1].item(), lambda_min=max(eig[0].item(), 0.0),
                                 beta=2.0 * sq.max().item(), beta_min=2.0 * sq.min().item())


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


def gd_detection_margin(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, steps: int,
                        factor: float) -> float:
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
    e = torch.cat([(weight.detach().to(torch.float64).cpu() - w_star.cpu()).reshape(-1),
                   (bias.detach().to(torch.float64).cpu() - b_star.cpu()).reshape(-1)])
    _, evecs = torch.linalg.eigh(2.0 * xt.T @ xt / xt.shape[0])
    share = ((evecs[:, -1] @ e) ** 2 / (e @ e)).item()
    if not share > 0:
        raise SpecInputError("the initial error has no component along the top Hessian eigenvector")
    return ((max(factor, 1.0) / share) ** (1.0 / (2 * steps)) - 1.0) / 2.0


# ================================================================ many SGD runs at once
def _pair_generator(seed: int, stream: int, batch_size: int) -> torch.Generator:
    # one independent, reproducible stream per (seed, stream, batch size): numpy's SeedSequence mixes the three
    state = np.random.SeedSequence([seed, stream, batch_size]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def minibatch_stream(n: int, batch_size: int, steps: int, sampling: str = "with-replacement", *, seed: int = 0,
                     stream: int = 0) -> torch.Tensor:
    """The (steps, batch_size) indices ``parallel_sgd`` uses for runs of this batch size in this stream."""
    for name, v in (("seed", seed), ("stream", stream)):
        _arguments.integer(name, v, at_least=0)
    return minibatch_indices(n, batch_size, steps, sampling, _pair_generator(seed, stream, batch_size))


def minibatch_indices(n: int, batch_size: int, steps: int, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) sample indices: "with-replacement" draws every index independently and uniformly;
    "reshuffled" takes consecutive batches of a fresh permutation each epoch; "fixed-order" of one permutation
    drawn once. The last two need batch_size to divide n (every epoch is n / batch_size whole batches)."""
    _arguments.positive_int("n", n)
    _arguments.positive_int("batch_size", batch_size)
    _arguments.positive_int("steps", steps)
    _arguments.one_of("sampling", sampling, SAMPLING)
    if batch_size > n:
        raise SpecInputError(f"batch_size {batch_size} exceeds the {n} samples")
    if sampling == "with-replacement":
        return torch.randint(0, n, (steps, batch_size), generator=generator)
    if n % batch_size:
        raise SpecInputError(f"batch_size {batch_size} must divide n = {n} for {sampling!r} sampling")
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    if sampling == "fixed-order":
        orders = torch.randperm(n, generator=generator).repeat(epochs)
    else:
        orders = torch.cat([torch.randperm(n, generator=generator) for _ in range(epochs)])
    return orders[: steps * batch_size].reshape(steps, batch_size)


@dataclass(frozen=True)
class ParallelRun:
    """K independent SGD runs of nn.Linear(d, 1) on MSE. ``losses[t, k]``: full-data MSE of run k after t steps
    (row 0 is the start); ``weight`` (K, d) and ``bias`` (K,) are the final parameters."""

    batch_sizes: tuple[int | None, ...]
    lrs: tuple[float, ...]
    sampling: str
    losses: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    start_distance: float  # ||w_0 - w*||^2 (weight and bias; w* the least-squares solution), the same for every run
    distances: torch.Tensor  # ||w_T - w*||^2 per run (inf/nan for runs that overflowed)

    @property
    def distance_ratios(self) -> torch.Tensor:
        """||w_T - w*||^2 / ||w_0 - w*||^2 per run."""
        return self.distances / self.start_distance


def parallel_sgd(x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int | None], lrs: Sequence[float], *,
                 steps: int, init: nn.Linear, sampling: str = "with-replacement", seed: int = 0,
                 streams: Sequence[int] | None = None) -> ParallelRun:
    """Train K = len(lrs) copies of ``init`` (an nn.Linear(d, 1)) by SGD on F.mse_loss, all at once.

    Run k steps with minibatches of ``batch_sizes[k]`` (None: the full batch, i.e. gradient descent) at learning
    rate ``lrs[k]``. Runs with the same ``streams[k]`` (default: all 0) and batch size see the same minibatch
    sequence (drawn per ``sampling`` from a generator seeded by (seed, stream, batch size)), so learning rates
    are compared on identical data; different streams are independent.

    How: nn.Linear(d, K) holds the K models as the rows of its weight (output column k depends on row k only).
    Each step computes F.mse_loss(reduction="none") of every model on all N samples and weights sample i of
    run k by (its count in run k's minibatch) / batch_sizes[k] * lrs[k] / max(lrs): the sum is sum_k (lrs[k] /
    max(lrs)) * (run k's minibatch-mean MSE). torch.optim.SGD(lr=max(lrs)) steps on it, and SGD's update is its lr
    times the gradient, so it moves run k by -lrs[k] * (gradient of its own minibatch loss); when all runs share
    one lr the loss carries no lr at all. Every step goes through SGD's own lr, so an SGD that mis-applied its lr
    would move these runs as it moves any other (the self-tests check a run against nn.Linear(d, 1) +
    torch.optim.SGD(lr=lrs[k]) on the same minibatches). A run that overflows turns inf/nan in its own row only.
    """
    n = _arguments.same_batch("x", x, "y", y)
    _arguments.tensor("x", x, dim=2, floating=True)
    if y.dim() != 2 or y.shape[1] != 1:
        raise SpecInputError(f"y must have shape (N, 1), got {tuple(y.shape)}")
    _arguments.positive_int("steps", steps)
    if not isinstance(init, nn.Linear) or init.out_features != 1 or init.in_features != x.shape[1] or init.bias is None:
        raise SpecInputError(f"init must be an nn.Linear({x.shape[1]}, 1) with a bias, got {init!r}")
    _arguments.one_of("sampling", sampling, SAMPLING)
    _arguments.integer("seed", seed, at_least=0)
    lrs = [float(_arguments.positive_float("lrs[k]", v)) for v in lrs]
    batch_sizes = list(batch_sizes)
    k_runs = len(lrs)
    if k_runs == 0 or len(batch_sizes) != k_runs:
        raise SpecInputError(f"batch_sizes and lrs must be non-empty and of equal length, got {len(batch_sizes)} "
                             f"and {k_runs}")
    for m in batch_sizes:
        if m is not None:
            _arguments.positive_int("batch_sizes[k]", m)
            if m > n:
                raise SpecInputError(f"batch_sizes[k] = {m} exceeds the {n} samples")
    streams = [0] * k_runs if streams is None else list(streams)
    if len(streams) != k_runs:
        raise SpecInputError(f"streams must be {k_runs} ints >= 0, one per run, got {streams!r}")
    for s in streams:
        _arguments.integer("streams[k]", s, at_least=0)

    device, dtype = x.device, x.dtype
    # one minibatch sequence per (stream, batch size); full-batch runs share an all-ones count
    pairs = sorted({(s, m) for s, m in zip(streams, batch_sizes) if m is not None})
    counts = torch.zeros(steps, n, len(pairs) + 1, dtype=dtype)  # (step, sample, pair); last pair: full batch
    for j, (s, m) in enumerate(pairs):
        idx = minibatch_stream(n, m, steps, sampling, seed=seed, stream=s)
        counts[:, :, j].scatter_add_(1, idx, torch.ones(idx.shape, dtype=dtype))
    counts[:, :, -1] = 1.0
    counts = counts.to(device)
    column = torch.tensor([pairs.index((s, m)) if m is not None else len(pairs)
                           for s, m in zip(streams, batch_sizes)], device=device)
    top = max(lrs)  # SGD's lr; the other runs' losses carry lr / top (x / x is exactly 1 in IEEE arithmetic)
    scale = torch.tensor([lr / top / (m if m is not None else n)
                          for lr, m in zip(lrs, batch_sizes)], dtype=dtype, device=device)

    model = nn.Linear(x.shape[1], k_runs, device=device, dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(init.weight.detach().to(device=device, dtype=dtype).expand(k_runs, -1))
        model.bias.copy_(init.bias.detach().to(device=device, dtype=dtype).expand(k_runs))
    optimizer = torch.optim.SGD(model.parameters(), lr=top)
    target = y.to(dtype).expand(n, k_runs)
    losses = torch.empty(steps + 1, k_runs, dtype=dtype, device=device)
    for t in range(steps):
        optimizer.zero_grad(set_to_none=True)
        squared = F.mse_loss(model(x), target, reduction="none")  # (N, K): every run on every sample
        losses[t] = squared.detach().mean(dim=0)
        (counts[t][:, column] * scale * squared).sum().backward()
        optimizer.step()
    with torch.no_grad():
        losses[steps] = F.mse_loss(model(x), target, reduction="none").mean(dim=0)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    w_star, b_star = least_squares_solution(x, y)
    start = ((init.weight.detach().to(dtype) - w_star.to(init.weight.device)) ** 2).sum() + (
        (init.bias.detach().to(dtype) - b_star.to(init.bias.device)) ** 2).sum()
    distances = ((weight - w_star) ** 2).sum(dim=1) + (bias - b_star) ** 2
    return ParallelRun(tuple(batch_sizes), tuple(lrs), sampling, losses, weight, bias, start.item(), distances)


def classify_runs(run: ParallelRun, factor: float) -> torch.Tensor:
    """Bool per run: diverged = the squared distance to the least-squares solution, ||w - w*||^2, ended above
    ``factor`` times where it started (or overflowed).

    Stable runs of a quadratic shrink it geometrically and diverged ones grow it geometrically, so only a narrow
    band of learning rates (where the growth over the run lies between 1 and ``factor``; its width shrinks like
    log(factor) / steps) depends on ``factor`` or the run length.
    """
    factor = _arguments.positive_float("factor", factor)
    return (~(run.distance_ratios <= factor)).cpu()


# ================================================================ largest stable learning rate
@dataclass(frozen=True)
class Threshold:
    """The measured largest stable lr of one batch size: ``stable`` < threshold <= ``diverged`` (the bracket);
    ``tried`` lists every (lr, diverged) evaluated; ``non_monotone`` is True when some lr above the first
    diverged one was stable."""

    batch_size: int | None
    stable: float
    diverged: float
    tried: tuple[tuple[float, bool], ...]
    non_monotone: bool

    @property
    def estimate(self) -> float:
        return math.sqrt(self.stable * self.diverged)

    @property
    def rel_width(self) -> float:
        return self.diverged / self.stable - 1.0


def stability_thresholds(x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int | None], lo: Sequence[float],
                         hi: Sequence[float], *, steps: int, factor: float, init: nn.Linear,
                         sampling: str = "with-replacement", seed: int = 0, points: int = 16,
                         rounds: int = 2) -> tuple[Threshold, ...]:
    """The largest stable learning rate of each batch size, by bisection on real SGD runs.

    Each round runs ``points`` learning rates per batch size (geometric grid), all batch sizes in one
    ``parallel_sgd`` call with the same minibatch sequence per batch size; the bracket becomes the last stable lr
    before the first diverged one and the next round fills it with ``points`` more. Round 1 spans [lo, hi]: lo
    must come out stable and hi diverged (else SpecInputError). After r rounds the bracket is (hi/lo)^(1 /
    ((points - 1)(points + 1)^(r - 1))) wide (as a ratio).
    """
    batch_sizes = list(batch_sizes)
    lo = [finite(f"lo[{i}]", v) for i, v in enumerate(lo)]
    hi = [finite(f"hi[{i}]", v) for i, v in enumerate(hi)]
    if not batch_sizes or len(lo) != len(batch_sizes) or len(hi) != len(batch_sizes):
        raise SpecInputError(f"batch_sizes, lo and hi must be non-empty and of equal length, got {len(batch_sizes)}, "
                             f"{len(lo)} and {len(hi)}")
    for a, b in zip(lo, hi):
        if not (0 < a < b < math.inf):
            raise SpecInputError(f"need 0 < lo < hi for every batch size, got lo={a}, hi={b}")
    _arguments.integer("points", points, at_least=2)
    _arguments.positive_int("rounds", rounds)
    grids = [[a * (b / a) ** (j / (points - 1)) for j in range(points)] for a, b in zip(lo, hi)]
    tried: list[list[tuple[float, bool]]] = [[] for _ in batch_sizes]
    brackets: list[tuple[float, float]] = []  # (last stable, first diverged) per batch size, after each round
    for r in range(rounds):
        prev = brackets
        run = parallel_sgd(x, y, [m for m in batch_sizes for _ in range(points)], [v for g in grids for v in g],
                           steps=steps, init=init, sampling=sampling, seed=seed)
        verdict = classify_runs(run, factor).reshape(len(batch_sizes), points).tolist()
        brackets = []
        for i, (grid, flags) in enumerate(zip(grids, verdict)):
            tried[i].extend(zip(grid, flags))
            if r == 0:
                if flags[0]:
                    raise SpecInputError(f"batch size {batch_sizes[i]}: lo = {grid[0]:.4g} diverged; lower lo")
                if not any(flags):
                    raise SpecInputError(f"batch size {batch_sizes[i]}: hi = {grid[-1]:.4g} is stable; raise hi")
                first = flags.index(True)
                brackets.append((grid[first - 1], grid[first]))
            else:
                a, b = prev[i]
                first = flags.index(True) if any(flags) else len(grid)
                brackets.append((grid[first - 1] if first > 0 else a, grid[first] if first < len(grid) else b))
        grids = [[a * (b / a) ** (j / (points + 1)) for j in range(1, points + 1)] for a, b in brackets]
    out = []
    for m, (a, b), t in zip(batch_sizes, brackets, tried):
        t = tuple(sorted(t))
        out.append(Threshold(m, a, b, t, any(not d for lr, d in t if lr > b)))
    return tuple(out)


# ================================================================ the spread of SGD around the optimum
def sgd_spread_at_optimum(x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, steps: int,
                          first_order: bool = False) -> float:
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


def sgd_expected_distance(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, lr: float,
                          batch_size: int, steps: int) -> float:
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
        raise SpecInputError(f"the data must be fitted exactly by a linear model (largest residual at the "
                             f"least-squares solution {r.abs().max().item():.3g}); the recursion has no noise term")
    w_star, b_star = least_squares_solution(x, y)
    e0 = torch.cat([(weight.detach().to(torch.float64).cpu() - w_star.cpu()).reshape(-1),
                    (bias.detach().to(torch.float64).cpu() - b_star.cpu()).reshape(-1)])
    if e0.shape[0] != xt.shape[1]:
        raise SpecInputError(f"weight and bias must be an nn.Linear({x.shape[1]}, 1)'s, got {tuple(weight.shape)} "
                             f"and {tuple(bias.shape)}")
    zero = torch.zeros(xt.shape[1], xt.shape[1], dtype=torch.float64)
    return _second_moment(xt, torch.outer(e0, e0), zero, lr=lr, batch_size=batch_size, steps=steps)


def _residuals_at_optimum(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    w_star, b_star = least_squares_solution(x, y)
    return y.to(torch.float64).cpu()[:, 0] - xt @ torch.cat([w_star.cpu()[0], b_star.cpu()])


def _second_moment(xt: torch.Tensor, s: torch.Tensor, sigma: torch.Tensor, *, lr: float, batch_size: int, steps: int,
                   first_order: bool = False) -> float:
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
