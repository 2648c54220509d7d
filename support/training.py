"""A small, explicit training loop shared by the experiments (explosion, clipping, loss/accuracy trends)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError
from support.gradients import total_grad_norm
from support.tensors import generator


@dataclass
class History:
    """Per-step records of a run. ``grad_norms`` are total L2 norms before any clipping."""

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    evaluations: list[object] = field(default_factory=list)  # whatever ``evaluate`` returned, per call

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.losses + self.grad_norms)

    @property
    def first_non_finite_step(self) -> int | None:
        for i, (loss, norm) in enumerate(zip(self.losses, self.grad_norms)):
            if not (math.isfinite(loss) and math.isfinite(norm)):
                return i
        return None


def train(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_size: int | None = None,
    seed: int = 0,
    clip_norm: float | None = None,
    evaluate: Callable[[nn.Module], object] | None = None,
    evaluate_every: int = 1,
    stop_when_non_finite: bool = True,
) -> History:
    """Run ``steps`` optimizer steps: zero_grad, forward, loss, backward, [clip_grad_norm_], step.

    batch_size None uses the full batch every step; otherwise minibatches are drawn by a seeded permutation
    per epoch. ``evaluate(model)`` runs (under no_grad) every ``evaluate_every`` steps and after the last one.
    The run stops early at the first non-finite loss or gradient norm unless told otherwise; that step's update
    has already been applied, so the parameters may be non-finite when it returns.
    """
    n = _arguments.same_batch("x", x, "y", y)
    _arguments.positive_int("steps", steps)
    _arguments.positive_int("evaluate_every", evaluate_every)
    if batch_size is not None:
        _arguments.positive_int("batch_size", batch_size)
        if batch_size > n:
            raise SpecInputError(f"batch_size {batch_size} exceeds the {n} samples")
    if clip_norm is not None:
        _arguments.positive_float("clip_norm", clip_norm)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SpecInputError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    g = generator(seed)
    order: list[int] = []
    history = History()
    params = [p for p in model.parameters() if p.requires_grad]
    for step in range(steps):
        if batch_size is None:
            xb, yb = x, y
        else:
            if len(order) < batch_size:
                order = torch.randperm(n, generator=g).tolist()
            idx, order = order[:batch_size], order[batch_size:]
            xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        norm = total_grad_norm(params)  # before clipping: what clip_grad_norm_ measures
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        history.losses.append(loss.item())
        history.grad_norms.append(norm.item())
        if evaluate is not None and ((step + 1) % evaluate_every == 0 or step == steps - 1):
            with torch.no_grad():
                history.evaluations.append(evaluate(model))
        if stop_when_non_finite and not history.finite:
            break
    return history
