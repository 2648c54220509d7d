"""Mutation: sigmoid's derivative is 4x too large (its value is unchanged), in torch.sigmoid and nn.Sigmoid."""

import torch

_orig = torch.sigmoid


class _Sigmoid4(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = _orig(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return 4 * g * s * (1 - s)


def sigmoid(x, *a, **k):
    return _Sigmoid4.apply(x)


torch.sigmoid = sigmoid
torch.nn.Sigmoid.forward = lambda self, x: _Sigmoid4.apply(x)
