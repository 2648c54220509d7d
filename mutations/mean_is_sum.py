"""Mutation: every loss module's 'mean' reduction behaves as 'sum'."""

import torch.nn.modules.loss as L

_orig = L._Loss.__init__


def _init(self, *a, **k):
    _orig(self, *a, **k)
    if self.reduction == "mean":
        self.reduction = "sum"


L._Loss.__init__ = _init
