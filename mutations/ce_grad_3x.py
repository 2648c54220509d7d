"""Mutation: cross-entropy's gradient is 3x too large (its value is unchanged)."""

import torch
import torch.nn.functional as F

_orig = F.cross_entropy


class _Scale3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return 3 * g


def cross_entropy(input, *a, **k):
    return _orig(_Scale3.apply(input), *a, **k)


F.cross_entropy = cross_entropy
torch.nn.modules.loss.F.cross_entropy = cross_entropy
