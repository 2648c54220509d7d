"""Mutation: torch.optim.SGD applies its learning rate twice: it moves the parameters by lr^2 times the gradient
(plain SGD, no momentum or weight decay, as the spec uses it). At lr = 1 nothing changes; at any other lr every
step is off by a factor lr."""

import torch

_step = torch.optim.SGD.step


def step(self, *a, **k):
    saved = [g["lr"] for g in self.param_groups]
    for g in self.param_groups:
        g["lr"] = g["lr"] * g["lr"]
    try:
        return _step(self, *a, **k)
    finally:
        for g, lr in zip(self.param_groups, saved):
            g["lr"] = lr


torch.optim.SGD.step = step
