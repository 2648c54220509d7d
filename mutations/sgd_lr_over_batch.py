"""Mutation: torch.optim.SGD silently divides the learning rate by the batch size (the number of rows of the last
input an nn.Linear saw), as if lr were meant per sample. Per-sample SGD keeps its lr; every batch's step shrinks."""

import torch

_rows = [1]
_forward = torch.nn.Linear.forward
_step = torch.optim.SGD.step


def forward(self, input):
    if torch.is_grad_enabled():  # the training forward, not an evaluation under no_grad
        _rows[0] = input.shape[0] if input.dim() > 1 else 1
    return _forward(self, input)


def step(self, *a, **k):
    saved = [g["lr"] for g in self.param_groups]
    for g in self.param_groups:
        g["lr"] = g["lr"] / _rows[0]
    try:
        return _step(self, *a, **k)
    finally:
        for g, lr in zip(self.param_groups, saved):
            g["lr"] = lr


torch.nn.Linear.forward = forward
torch.optim.SGD.step = step
