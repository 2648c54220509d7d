"""Putting a model back after a check: ``preserved(subject)`` restores the parameters and buffers (values), the
gradients, the requires_grad flags and the train/eval modes a check changed, and the global random state. The
checks run on the user's own model, so that hooks on its tensors and an optimizer factory that closes over it stay
in force."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


class HasModel(Protocol):
    """What ``preserved`` needs of a subject (a ``ModelUnderTest``): its model, and its targets' device."""

    model: nn.Module
    targets: torch.Tensor


@dataclass
class _Snapshot:
    values: dict[str, torch.Tensor]  # parameters and buffers, by name, cloned
    grads: dict[str, torch.Tensor | None]
    requires_grad: dict[str, bool]
    training: dict[str, bool]  # module name -> training flag


def _snapshot(model: nn.Module) -> _Snapshot:
    with torch.no_grad():
        params = dict(model.named_parameters(remove_duplicate=False))
        values = {n: p.detach().clone() for n, p in params.items()}
        values.update(
            {f"buffer:{n}": b.detach().clone() for n, b in model.named_buffers(remove_duplicate=False) if b is not None}
        )
    grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in params.items()}
    return _Snapshot(
        values,
        grads,
        {n: p.requires_grad for n, p in params.items()},
        {n: m.training for n, m in model.named_modules(remove_duplicate=False)},
    )


def _restore(model: nn.Module, snap: _Snapshot) -> None:
    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for name, value in snap.values.items():
            if name.startswith("buffer:"):
                target = buffers.get(name.removeprefix("buffer:"))
            else:
                target = params.get(name)
            if target is not None:
                if target.shape != value.shape:  # a check replaced it (lazy modules): put the old tensor back
                    target.data = value.to(target.device)
                else:
                    target.copy_(value)
    for name, p in params.items():
        p.requires_grad_(snap.requires_grad.get(name, p.requires_grad))
        g = snap.grads.get(name)
        p.grad = None if g is None else g.to(p.device)
    for name, m in model.named_modules(remove_duplicate=False):
        if name in snap.training:
            m.training = snap.training[name]


@contextlib.contextmanager
def preserved(subject: HasModel):
    """Run a check on the subject's own model and put back, afterwards, its parameters and buffers (values), its
    gradients, requires_grad flags and train/eval modes; the global RNG state is put back too."""
    snap = _snapshot(subject.model)
    devices = [subject.targets.device] if subject.targets.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield subject
        finally:
            _restore(subject.model, snap)


__all__ = ["preserved"]
