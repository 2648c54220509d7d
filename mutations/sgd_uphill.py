"""Mutation: torch.optim.SGD steps uphill (maximize=True whatever the caller asked)."""

import torch

_orig = torch.optim.SGD.__init__


def __init__(self, params, *a, **k):
    k["maximize"] = True
    _orig(self, params, *a, **k)


torch.optim.SGD.__init__ = __init__
