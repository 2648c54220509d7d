"""A training-run monitor (remedy.monitor): the total gradient norm and the loss of every step, with non-finite
values and spikes flagged and the parameters whose gradients went non-finite named."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError, SpecTypeError
from support.gradients import dense

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

    def __init__(
        self,
        model: nn.Module | Iterable[torch.Tensor],
        *,
        spike_factor: float = 10.0,
        window: int = 10,
        warmup: int = 3,
    ):
        if isinstance(model, nn.Module):
            named = list(model.named_parameters())
        elif isinstance(model, torch.Tensor):
            named = [("0", model)]
        else:
            try:
                named = [(str(i), p) for i, p in enumerate(model)]
            except TypeError:
                raise SpecTypeError(
                    f"model must be an nn.Module or an iterable of tensors, got {type(model).__name__}"
                ) from None
        if not named:
            raise SpecInputError("model has no parameters to monitor")
        for name, p in named:
            if not isinstance(p, torch.Tensor):
                raise SpecTypeError(f"model: parameter {name} is a {type(p).__name__}, not a tensor")
        self._named = named
        self.spike_factor = _arguments.number("spike_factor", spike_factor, above=1)
        self.window = _arguments.positive_int("window", window)
        self.warmup = _arguments.positive_int("warmup", warmup)
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
        if kind is not None:
            _arguments.one_of("kind", kind, ANOMALY_KINDS)
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
        norms = torch.stack([torch.linalg.vector_norm(dense(g.detach())).double().cpu() for _, g in with_grad])
        per_param = norms.tolist()
        norm = torch.linalg.vector_norm(norms).item()

        found: list[Anomaly] = []
        if loss_value is not None and not math.isfinite(loss_value):
            found.append(Anomaly(step, "non-finite-loss", loss_value))
        if not math.isfinite(norm):
            # a NaN/inf element, or finite elements whose norm overflows: each parameter's norm is taken in its
            # gradient's own dtype (float32 and bfloat16: entries above ~1e19, whose squares pass 3.4e38; float64:
            # above ~1e154), only the total of those norms in float64 (it overflows when they pass ~1e154 together)
            bad = tuple(
                name
                for (name, g), pn in zip(with_grad, per_param)
                if not (math.isfinite(pn) and bool(torch.isfinite(g).all()))
            )
            found.append(Anomaly(step, "non-finite-grad", norm, parameters=bad))
        else:
            history = [v for v in self.norms if math.isfinite(v)][-self.window :]
            if len(history) >= self.warmup:
                reference = statistics.median(history)
                if norm > self.spike_factor * reference:
                    found.append(Anomaly(step, "spike", norm, reference=reference))
        self.norms.append(norm)
        self.losses.append(loss_value)
        self.anomalies.extend(found)
        return tuple(found)
