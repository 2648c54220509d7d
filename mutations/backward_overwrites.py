"""Mutation: backward overwrites .grad instead of accumulating into it."""

import torch

_orig = torch.Tensor.backward


def _leaves(t):
    seen, stack, out = set(), [t.grad_fn], []
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        if hasattr(n, "variable"):
            out.append(n.variable)
        stack.extend(f for f, _ in n.next_functions)
    return out


def backward(self, *a, **k):
    for leaf in _leaves(self):
        leaf.grad = None
    return _orig(self, *a, **k)


torch.Tensor.backward = backward
