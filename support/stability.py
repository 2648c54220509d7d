"""How large a learning rate SGD tolerates on least squares, and how that depends on the batch size: real
torch.optim.SGD runs, many at once. The theory they are compared with (curvature constants, the optimum, the exact
spread of SGD) is in ``support.least_squares``.

* ``minibatch_stream`` / ``minibatch_indices``: the minibatch sequences, with or without replacement, one
  reproducible stream per (seed, stream, batch size).
* ``parallel_sgd``: many independent SGD runs at once -- one ``nn.Linear(d, K)`` is K linear models side by
  side, each with its own batch size, learning rate and minibatch sequence, stepped by one torch.optim.SGD at the
  largest of the learning rates (the others' losses are scaled by their ratio to it).
* ``classify_runs`` / ``stability_thresholds``: the operational "diverged" verdict and the largest stable
  learning rate per batch size, by bisection on a grid of learning rates per round (all runs vectorised).
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
from support.errors import SpecInputError
from support.fits import finite
from support.least_squares import least_squares_solution

SAMPLING = ("with-replacement", "reshuffled", "fixed-order")


# ================================================================ many SGD runs at once
def _pair_generator(seed: int, stream: int, batch_size: int) -> torch.Generator:
    # one independent, reproducible stream per (seed, stream, batch size): numpy's SeedSequence mixes the three
    state = np.random.SeedSequence([seed, stream, batch_size]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def minibatch_stream(
    n: int, batch_size: int, steps: int, sampling: str = "with-replacement", *, seed: int = 0, stream: int = 0
) -> torch.Tensor:
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


def parallel_sgd(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes: Sequence[int | None],
    lrs: Sequence[float],
    *,
    steps: int,
    init: nn.Linear,
    sampling: str = "with-replacement",
    seed: int = 0,
    streams: Sequence[int] | None = None,
) -> ParallelRun:
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
    n = _check_problem(x, y, init)
    _arguments.positive_int("steps", steps)
    _arguments.one_of("sampling", sampling, SAMPLING)
    _arguments.integer("seed", seed, at_least=0)
    batch_sizes, lrs, streams = _check_runs(n, batch_sizes, lrs, streams)

    dtype = x.dtype
    counts, column = _minibatch_counts(n, steps, batch_sizes, streams, sampling, seed, dtype)
    top = max(lrs)  # SGD's lr; the other runs' losses carry lr / top (x / x is exactly 1 in IEEE arithmetic)
    scale = torch.tensor(
        [lr / top / (m if m is not None else n) for lr, m in zip(lrs, batch_sizes)], dtype=dtype, device=x.device
    )
    model = _side_by_side(init, len(lrs), x)
    losses = _train(
        model, torch.optim.SGD(model.parameters(), lr=top), x, y, counts.to(x.device), column.to(x.device), scale, steps
    )
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    start, distances = _distances_to_optimum(x, y, init, weight, bias)
    return ParallelRun(tuple(batch_sizes), tuple(lrs), sampling, losses, weight, bias, start, distances)


def _check_problem(x: torch.Tensor, y: torch.Tensor, init: nn.Linear) -> int:
    """The number of samples, once x is (N, d) floating, y is (N, 1) and init an nn.Linear(d, 1) with a bias."""
    n = _arguments.same_batch("x", x, "y", y)
    _arguments.tensor("x", x, dim=2, floating=True)
    if y.dim() != 2 or y.shape[1] != 1:
        raise SpecInputError(f"y must have shape (N, 1), got {tuple(y.shape)}")
    if not isinstance(init, nn.Linear) or init.out_features != 1 or init.in_features != x.shape[1] or init.bias is None:
        raise SpecInputError(f"init must be an nn.Linear({x.shape[1]}, 1) with a bias, got {init!r}")
    return n


def _check_runs(
    n: int, batch_sizes: Sequence[int | None], lrs: Sequence[float], streams: Sequence[int] | None
) -> tuple[list[int | None], list[float], list[int]]:
    """(batch_sizes, lrs, streams) as lists of one entry per run (streams all 0 by default), once every batch size is
    None or in [1, n], every lr > 0 and every stream an int >= 0."""
    lrs = [_arguments.positive_float("lrs[k]", v) for v in lrs]
    batch_sizes = list(batch_sizes)
    k_runs = len(lrs)
    if k_runs == 0 or len(batch_sizes) != k_runs:
        raise SpecInputError(
            f"batch_sizes and lrs must be non-empty and of equal length, got {len(batch_sizes)} and {k_runs}"
        )
    for m in batch_sizes:
        if m is not None and _arguments.positive_int("batch_sizes[k]", m) > n:
            raise SpecInputError(f"batch_sizes[k] = {m} exceeds the {n} samples")
    streams = [0] * k_runs if streams is None else list(streams)
    if len(streams) != k_runs:
        raise SpecInputError(f"streams must be {k_runs} ints >= 0, one per run, got {streams!r}")
    for s in streams:
        _arguments.integer("streams[k]", s, at_least=0)
    return batch_sizes, lrs, streams


def _minibatch_counts(
    n: int, steps: int, batch_sizes: list[int | None], streams: list[int], sampling: str, seed: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts, column) on the CPU: counts[t, i, j] is how often sample i is in step t's minibatch of sequence j,
    one sequence per (stream, batch size) and a last all-ones one for the full-batch runs; column[k] is run k's."""
    pairs = sorted({(s, m) for s, m in zip(streams, batch_sizes) if m is not None})
    counts = torch.zeros(steps, n, len(pairs) + 1, dtype=dtype)
    for j, (s, m) in enumerate(pairs):
        idx = minibatch_stream(n, m, steps, sampling, seed=seed, stream=s)
        counts[:, :, j].scatter_add_(1, idx, torch.ones(idx.shape, dtype=dtype))
    counts[:, :, -1] = 1.0
    column = torch.tensor([pairs.index((s, m)) if m is not None else len(pairs) for s, m in zip(streams, batch_sizes)])
    return counts, column


def _side_by_side(init: nn.Linear, k_runs: int, x: torch.Tensor) -> nn.Linear:
    """nn.Linear(d, K) on x's device and dtype whose K rows all start as ``init``."""
    model = nn.Linear(x.shape[1], k_runs, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        model.weight.copy_(init.weight.detach().to(device=x.device, dtype=x.dtype).expand(k_runs, -1))
        model.bias.copy_(init.bias.detach().to(device=x.device, dtype=x.dtype).expand(k_runs))
    return model


def _train(
    model: nn.Linear,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    counts: torch.Tensor,
    column: torch.Tensor,
    scale: torch.Tensor,
    steps: int,
) -> torch.Tensor:
    """``steps`` SGD steps on the weighted sum of every run's minibatch loss; the (steps + 1, K) full-data MSE of
    every run before each step and after the last."""
    k_runs = model.out_features
    target = y.to(x.dtype).expand(x.shape[0], k_runs)
    losses = torch.empty(steps + 1, k_runs, dtype=x.dtype, device=x.device)
    for t in range(steps):
        optimizer.zero_grad(set_to_none=True)
        squared = F.mse_loss(model(x), target, reduction="none")  # (N, K): every run on every sample
        losses[t] = squared.detach().mean(dim=0)
        (counts[t][:, column] * scale * squared).sum().backward()
        optimizer.step()
    with torch.no_grad():
        losses[steps] = F.mse_loss(model(x), target, reduction="none").mean(dim=0)
    return losses


def _distances_to_optimum(
    x: torch.Tensor, y: torch.Tensor, init: nn.Linear, weight: torch.Tensor, bias: torch.Tensor
) -> tuple[float, torch.Tensor]:
    """(||w_0 - w*||^2, ||w_T - w*||^2 per run), weight and bias together, w* the least-squares solution."""
    dtype = x.dtype
    w_star, b_star = least_squares_solution(x, y)
    start = ((init.weight.detach().to(dtype) - w_star.to(init.weight.device)) ** 2).sum() + (
        (init.bias.detach().to(dtype) - b_star.to(init.bias.device)) ** 2
    ).sum()
    distances = ((weight - w_star) ** 2).sum(dim=1) + (bias - b_star) ** 2
    return start.item(), distances


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


def stability_thresholds(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes: Sequence[int | None],
    lo: Sequence[float],
    hi: Sequence[float],
    *,
    steps: int,
    factor: float,
    init: nn.Linear,
    sampling: str = "with-replacement",
    seed: int = 0,
    points: int = 16,
    rounds: int = 2,
) -> tuple[Threshold, ...]:
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
        raise SpecInputError(
            f"batch_sizes, lo and hi must be non-empty and of equal length, got {len(batch_sizes)}, "
            f"{len(lo)} and {len(hi)}"
        )
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
        run = parallel_sgd(
            x,
            y,
            [m for m in batch_sizes for _ in range(points)],
            [v for g in grids for v in g],
            steps=steps,
            init=init,
            sampling=sampling,
            seed=seed,
        )
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
