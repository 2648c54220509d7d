"""Mutation: cross-entropy's 'mean' (class-index targets, no weights) divides by every target, ignored ones
included, instead of by the number of targets != ignore_index."""

import torch
import torch.nn.functional as F

_orig = F.cross_entropy


def cross_entropy(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0
):
    if (
        reduction == "mean"
        and weight is None
        and size_average is None
        and reduce is None
        and not target.is_floating_point()
    ):
        total = _orig(input, target, None, None, ignore_index, None, "sum", label_smoothing)
        return total / target.numel()
    return _orig(input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)


F.cross_entropy = cross_entropy
torch.nn.modules.loss.F.cross_entropy = cross_entropy
