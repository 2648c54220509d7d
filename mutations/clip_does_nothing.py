"""Mutation: clip_grad_norm_ computes and returns the total norm but leaves the gradients alone."""

import torch

_orig = torch.nn.utils.clip_grad_norm_


def clip_grad_norm_(parameters, max_norm, *a, **k):
    return _orig(parameters, float("inf"), *a, **k)


torch.nn.utils.clip_grad_norm_ = clip_grad_norm_
torch.nn.utils.clip_grad.clip_grad_norm_ = clip_grad_norm_
