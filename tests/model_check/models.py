"""Small models the model-check self-tests share: broken ones (each check must catch one) and the subjects built
around them from the reference models' batches."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from support.model_check import references
from support.model_check.subject import ModelUnderTest
from support.tensors import seeded_init

N, FEATURES, CLASSES = references.N, references.FEATURES, references.CLASSES


def _mlp_subject(model: nn.Module, **fields) -> ModelUnderTest:
    """The mlp reference's batch, loss and optimizer around another model."""
    return replace(references.mlp(), model=model, **fields)


def _token_subject(model, **fields) -> ModelUnderTest:
    """The transformer reference's token batch, loss and optimizer around another model."""
    return replace(references.transformer(), model=model, **fields)


def _seeded(build, seed: int = 0):
    with seeded_init(seed):
        return build()


class DeadParameters(nn.Module):
    """``aux`` is defined but never used; ``gate`` enters through relu(gate) with gate < 0: its gradient is 0."""

    def __init__(self, dead: bool = True):
        super().__init__()
        self.body, self.head = nn.Linear(FEATURES, 32), nn.Linear(32, CLASSES)
        self.aux = nn.Linear(32, CLASSES) if dead else None
        self.gate = nn.Parameter(torch.full((32,), -1.0 if dead else 1.0))

    def forward(self, x):
        return self.head(torch.relu(self.body(x)) * (1 + torch.relu(self.gate)))


class _ZeroGradient(torch.autograd.Function):
    """Identity forward, zero gradient backward: a gradient mask that "freezes" a parameter kept in the optimizer."""

    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class MaskedEmbeddingClassifier(nn.Module):
    """A "frozen" pretrained embedding: its gradient is masked to zero (by a custom autograd function, "mask", or by a
    hook on the tensor, "hook"), but it stays in the optimizer; or frozen the proper way ("requires_grad")."""

    def __init__(self, frozen_by: str):
        super().__init__()
        self.frozen_by = frozen_by
        self.embed = nn.Embedding(references.VOCAB, 8)
        if frozen_by == "requires_grad":
            self.embed.weight.requires_grad_(False)
        if frozen_by == "hook":
            self.embed.weight.register_hook(torch.zeros_like)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, tokens):
        w = _ZeroGradient.apply(self.embed.weight) if self.frozen_by == "mask" else self.embed.weight
        return self.head(F.embedding(tokens, w).mean(dim=1))


class DeadReLUs(nn.Module):
    """Every hidden ReLU is dead at init (bias -10, far below any pre-activation): the head sees zeros, the logits
    are the same for every sample and nothing but the head's bias can learn."""

    def __init__(self, bias: float):
        super().__init__()
        self.body, self.head = nn.Linear(FEATURES, 32), nn.Linear(32, CLASSES)
        nn.init.constant_(self.body.bias, bias)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))
