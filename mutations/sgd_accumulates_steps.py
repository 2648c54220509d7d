"""Mutation: torch.optim.SGD silently accumulates: it moves the parameters only on every 4th step() call, by lr times
the mean of the 4 gradients it was given, so "one step per sample" quietly becomes one step per 4 samples."""

import torch

EVERY = 4
_step = torch.optim.SGD.step


def step(self, *a, **k):
    params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
    count = self.__dict__.get("_mutation_count", 0) + 1
    sums = self.__dict__.setdefault("_mutation_sums", {})
    for p in params:
        sums[p] = sums.get(p, 0) + p.grad.detach().clone()
    self._mutation_count = count
    if count % EVERY:
        return None
    for p in params:
        p.grad = sums.pop(p) / EVERY
    return _step(self, *a, **k)


torch.optim.SGD.step = step
