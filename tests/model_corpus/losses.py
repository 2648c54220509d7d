"""Losses the corpus models train with, written as their users write them.

* ``masked_token_cross_entropy``: a per-token loss over (N, T, C) logits that leaves out padded positions
  (targets ``PAD_LABEL``) and divides by the number of real tokens, the usual hand-written masked mean.
* ``masked_token_cross_entropy_over_padding``: the same with the classic bug, dividing by every position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


__all__ = ["PAD_LABEL", "masked_token_cross_entropy", "masked_token_cross_entropy_over_padding"]
