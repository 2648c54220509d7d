"""Losses the corpus models train with, written as their users write them.

* ``masked_token_cross_entropy``: a per-token loss over (N, T, C) logits that leaves out padded positions
  (targets ``PAD_LABEL``) and divides by the number of real tokens, the usual hand-written masked mean.
* ``masked_token_cross_entropy_over_padding``: the same with the classic bug, dividing by every position.
* ``StandInSequenceCrossEntropyLoss``: the behaviour of ``support.model_check.losses.SequenceCrossEntropyLoss``
  (the loss module the model checks will offer for (N, T, C) logits), for running the corpus before that module
  exists: ``nn.CrossEntropyLoss`` over class-last sequence logits, with ``shift=1`` predicting ``targets[:, 1:]``
  from ``logits[:, :-1]`` as a causal language model does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAD_LABEL = -100  # the label of a padded position (nn.CrossEntropyLoss's default ignore_index)


def _token_terms(output: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) cross-entropy terms of (N, T, C) logits, 0 at padding, and the (N, T) mask of real tokens."""
    mask = targets != PAD_LABEL
    terms = F.cross_entropy(output.flatten(0, 1), targets.clamp_min(0).flatten(), reduction="none")
    return terms.view_as(targets) * mask, mask


def masked_token_cross_entropy(output: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"):
    """Cross-entropy of (N, T, C) logits against (N, T) labels, padding masked out: the mean is over real tokens."""
    terms, mask = _token_terms(output, targets)
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / mask.sum()


def masked_token_cross_entropy_over_padding(output: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"):
    """The same loss with its mean divided by every position, padding included (each real token weighs less in a
    batch with more padding)."""
    terms, _ = _token_terms(output, targets)
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / targets.numel()


class StandInSequenceCrossEntropyLoss(nn.CrossEntropyLoss):
    """CrossEntropyLoss over (N, T, C) logits and (N, T) class indices; with ``shift`` s > 0, position t's logits
    are scored against the label at t + s (``logits[:, :-s]`` against ``targets[:, s:]``). reduction='none' returns
    the (N, T - s) terms, 0 at ignore_index; 'mean' divides their sum by the number of non-ignored labels."""

    def __init__(self, shift: int = 1, ignore_index: int = PAD_LABEL, label_smoothing: float = 0.0,
                 reduction: str = "mean"):
        super().__init__(ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
        self.shift = shift

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.shift:
            logits, targets = logits[:, :-self.shift], targets[:, self.shift:]
        # CrossEntropyLoss takes the classes in dim 1: (N, C, T - s)
        return F.cross_entropy(logits.transpose(1, 2), targets, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


def sequence_cross_entropy(**kwargs) -> nn.CrossEntropyLoss:
    """``support.model_check.losses.SequenceCrossEntropyLoss(**kwargs)``; the stand-in where that module does not
    exist yet and ``use_stand_in`` was called (the baseline does)."""
    if _STAND_IN[0]:
        try:
            from support.model_check.losses import SequenceCrossEntropyLoss
        except ImportError:
            return StandInSequenceCrossEntropyLoss(**kwargs)
        return SequenceCrossEntropyLoss(**kwargs)
    from support.model_check.losses import SequenceCrossEntropyLoss

    return SequenceCrossEntropyLoss(**kwargs)


_STAND_IN = [False]


def use_stand_in(enabled: bool = True) -> None:
    """Let ``sequence_cross_entropy`` fall back to ``StandInSequenceCrossEntropyLoss`` while
    support.model_check.losses does not exist."""
    _STAND_IN[0] = enabled


__all__ = ["PAD_LABEL", "StandInSequenceCrossEntropyLoss", "masked_token_cross_entropy",
           "masked_token_cross_entropy_over_padding", "sequence_cross_entropy", "use_stand_in"]
