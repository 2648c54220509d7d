"""Losses for models whose class scores come last, as Hugging Face language and token-classification models return
them: logits (N, T, C) for targets (N, T).

``SequenceCrossEntropyLoss`` is ``nn.CrossEntropyLoss`` (same ``weight``, ``ignore_index``, ``reduction``,
``label_smoothing``) on class-last logits, optionally predicting the targets ``shift`` positions ahead: a causal
language model predicts token t + 1 from the logits at t, so ``shift=1`` scores ``logits[:, :-1]`` against
``targets[:, 1:]`` -- what ``transformers``' causal-LM loss does with ``labels`` (padding marked -100) -- with the
reductions the checks need ('mean', 'sum', 'none').

    from support.model_check.losses import SequenceCrossEntropyLoss
    loss = SequenceCrossEntropyLoss(shift=1)   # GPT-2 style: labels = input_ids, -100 at padding

It is a CrossEntropyLoss, so the checks know its class dimension, its ``ignore_index`` and its ``weight``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from support import _arguments
from support.errors import SpecInputError


class SequenceCrossEntropyLoss(nn.CrossEntropyLoss):
    """Cross-entropy of class-last logits (N, ..., C) against targets (N, ...), with targets ``shift`` steps ahead
    along dim 1 (``shift=0``: position t against target t).

    ``reduction='none'`` returns one term per scored position: shape (N, T - shift, ...)."""

    def __init__(
        self,
        *,
        shift: int = 0,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        _arguments.integer("shift", shift, at_least=0)
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
        self.shift = shift

    def aligned(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and targets that are scored against each other: class-last logits (N, T - shift, ..., C)
        and targets (N, T - shift, ...)."""
        if logits.dim() != targets.dim() + 1 or logits.shape[:-1] != targets.shape:
            raise SpecInputError(
                f"SequenceCrossEntropyLoss takes class-last logits (N, T, ..., C) for targets "
                f"(N, T, ...); got logits {tuple(logits.shape)} and targets {tuple(targets.shape)}"
            )
        if self.shift:
            if targets.dim() < 2 or targets.shape[1] <= self.shift:
                raise SpecInputError(
                    f"shift={self.shift} needs targets with more than {self.shift} positions "
                    f"along dim 1, got shape {tuple(targets.shape)}"
                )
            return logits[:, : -self.shift], targets[:, self.shift :]
        return logits, targets

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self.aligned(logits, targets)
        # torch's cross_entropy takes the class dimension at dim 1
        return F.cross_entropy(
            z.movedim(-1, 1),
            y,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return f"shift={self.shift}, ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}"


__all__ = ["SequenceCrossEntropyLoss"]
