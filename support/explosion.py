"""The gradient-explosion experiments of part 2 of the source.

* Pascanu, Mikolov & Bengio 2013, sec. 2.3, eq. 8: the one-unit recurrent model x_t = w * sigmoid(x_{t-1}) + b
  with x_0 = 0.5 and error E = (sigmoid(x_T) - 0.7)^2 (``one_unit_rnn_*``).
* ``unstable_regression``: the small net and data whose SGD run at ``UNSTABLE_LR`` overflows (within
  ``OVERFLOW_WITHIN_STEPS`` steps), shared by the explosion, clipping and monitoring specs.
* ``depth_sweep``: log-norm of the input gradient of bias-free MLPs over depths and seeds (cached; the shared
  settings are ``SWEEP_WIDTH``/``SWEEP_DEPTHS``/``SWEEP_SEEDS``), and ``depth_sweeps_over_stds``, the same networks
  at many weight stds in one batch.

What they are held against lives in ``support.theory``; the fits in ``support.fits``; the run monitor in
``support.monitor``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError, SpecTypeError
from support.fits import LineFit, finite, fit_line
from support.models import ACTIVATIONS, mlp
from support.tensors import generator

# ================================================================ Pascanu et al. 2013, sec. 2.3
PASCANU_X0 = 0.5
PASCANU_TARGET = 0.7


def _bias_tensor(b) -> torch.Tensor:
    if isinstance(b, torch.Tensor):
        if b.dtype != torch.float64:
            raise SpecTypeError(f"b must be a float64 tensor (the model is studied in float64), got {b.dtype}")
        return b
    return torch.tensor(_arguments.number("b", b), dtype=torch.float64)


def one_unit_rnn_final_state(w: float, b, steps: int, *, x0: float = PASCANU_X0) -> torch.Tensor:
    """x_T of x_t = w * sigmoid(x_{t-1}) + b, x_0 = x0, with no input (Pascanu et al. 2013, eq. 8).

    ``b`` is a number or a float64 tensor of biases (one independent model per element); differentiable in b.
    """
    w = finite("w", w)
    x0 = finite("x0", x0)
    _arguments.positive_int("steps", steps)
    b = _bias_tensor(b)
    x = torch.full_like(b, x0)
    for _ in range(steps):
        x = w * torch.sigmoid(x) + b
    return x


def one_unit_rnn_error(
    w: float, b, steps: int, *, x0: float = PASCANU_X0, target: float = PASCANU_TARGET
) -> torch.Tensor:
    """E = (sigmoid(x_T) - target)^2, the error of Pascanu et al.'s Fig. 6 (target 0.7 after T steps)."""
    return (torch.sigmoid(one_unit_rnn_final_state(w, b, steps, x0=x0)) - finite("target", target)) ** 2


def one_unit_rnn_bias_grad(
    w: float, b, steps: int, *, x0: float = PASCANU_X0, target: float = PASCANU_TARGET
) -> torch.Tensor:
    """dE/db by autograd, elementwise for a tensor of biases (each E depends only on its own b)."""
    b = _bias_tensor(b).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(one_unit_rnn_error(w, b, steps, x0=x0, target=target).sum(), b)
    return grad


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


def sweep_measured_on(seeds: int = SWEEP_SEEDS) -> tuple[str, str]:
    """What a figure of the shared sweep (``depth_sweep`` at SWEEP_WIDTH and SWEEP_DEPTHS with its default
    input_scale, ``seeds`` networks per depth) was measured on, in English and in Chinese: the text the claims report
    shows next to it."""
    _arguments.positive_int("seeds", seeds)
    return (
        f"{seeds} bias-free MLPs of width {SWEEP_WIDTH} per depth, depths {SWEEP_DEPTHS}, each with one N(0, I) input "
        "and a random unit direction",
        f"每个深度 {seeds} 个宽度 {SWEEP_WIDTH}、无偏置的 MLP,深度 {SWEEP_DEPTHS},"
        "每个网络一个 N(0, I) 输入和一个随机单位方向",
    )


def sweep_seed(depth: int, k: int, base: int = 0) -> int:
    """The seed of the k-th network of a depth: distinct per (depth, k), so depths are independent samples."""
    return base + 7919 * depth + k


def block_base(block: int) -> int:
    """The ``seed`` of a sweep on seed block ``block`` (0: the default run's): 10^6 apart, so blocks share no network
    for depths up to 126 (sweep_seed stays below 7919 * 127)."""
    _arguments.integer("block", block, at_least=0)
    return 10**6 * block


def depth_sweep(
    activation: str,
    weight_std: float,
    *,
    width: int,
    depths: Sequence[int],
    seeds: int,
    seed: int = 0,
    input_scale: float = 1.0,
) -> DepthSweep:
    """Input-gradient log-norms of ``mlp(width, width, width, depth=d, weight_std=..., bias=False)`` for each
    depth d (d Linear layers, an activation between consecutive ones), for ``seeds`` networks per depth.

    Each network gets one input x ~ N(0, input_scale^2 I) and one unit direction u, drawn from its own seed;
    the networks of different depths are independent (``sweep_seed``). float64 on the CPU. The result is
    cached (it is deterministic and immutable), so tests of several claims can share a sweep.
    """
    _arguments.one_of("activation", activation, sorted(ACTIVATIONS))
    weight_std = _arguments.positive_float("weight_std", weight_std)
    depths, input_scale = _sweep_arguments(width, depths, seeds, seed, input_scale)
    return _depth_sweep(activation, weight_std, width, depths, seeds, seed, input_scale)


def _sweep_arguments(width, depths, seeds, seed, input_scale) -> tuple[tuple[int, ...], float]:
    """The checks both sweeps make of their shared arguments; returns (depths as a tuple, input_scale)."""
    _arguments.positive_int("width", width)
    _arguments.positive_int("seeds", seeds)
    _arguments.seed(seed)
    input_scale = _arguments.positive_float("input_scale", input_scale)
    return tuple(_arguments.positive_ints("depths", depths)), input_scale


@functools.lru_cache(maxsize=64)
def _depth_sweep(activation, weight_std, width, depths, seeds, seed, input_scale) -> DepthSweep:
    rows, fwd_rows = [], []
    for d in depths:
        row, fwd = [], []
        for k in range(seeds):
            s = sweep_seed(d, k, seed)
            net = mlp(width, width, width, depth=d, activation=activation, weight_std=weight_std, bias=False, seed=s)
            g = generator(s)
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


# ================================================================ slopes over a range of weight scales
# (added for remedy.relu: the slope per layer of ReLU, tanh and sigmoid nets as the weight std sweeps through the
# point where ReLU's growth overtakes tanh's)
def depth_sweeps_over_stds(
    activation: str,
    weight_stds: Sequence[float],
    *,
    width: int,
    depths: Sequence[int],
    seeds: int,
    seed: int = 0,
    input_scale: float = 1.0,
) -> tuple[DepthSweep, ...]:
    """``depth_sweep(activation, s, ...)`` for every s in ``weight_stds``, computed in one pass.

    The networks are those of ``depth_sweep`` (same seeds, inputs and directions): ``mlp`` draws weight_std
    times the same standard normals whatever the std, so each network is built once at std 1 and every std
    is a row of one batch, each layer's output scaled by the std. The results agree with ``depth_sweep`` up to
    rounding (the std multiplies float64 values here, float32 draws there; see the self-test), at a fraction
    of the cost of one ``depth_sweep`` per std. Cached like ``depth_sweep``.
    """
    _arguments.one_of("activation", activation, sorted(ACTIVATIONS))
    if isinstance(weight_stds, (str, bytes)) or not isinstance(weight_stds, Iterable):
        raise SpecInputError(f"weight_stds must be a sequence of positive numbers, got {weight_stds!r}")
    stds = tuple(_arguments.positive_float("weight_stds[i]", s) for s in weight_stds)
    if not stds:
        raise SpecInputError("weight_stds is empty")
    depths, input_scale = _sweep_arguments(width, depths, seeds, seed, input_scale)
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
            g = generator(s)  # the draws of _depth_sweep, in its order
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
        DepthSweep(
            activation, std, width, depths, tuple(tuple(r) for r in rows[j]), tuple(tuple(r) for r in fwd_rows[j])
        )
        for j, std in enumerate(stds)
    )
