"""Broken variants of healthy corpus models: each one small change that the model checks must catch (see
``catalog.BROKEN`` for the check and the words that must name the cause)."""

from __future__ import annotations

import torch
from torch import nn

from support.tensors import generator
from tests.model_corpus import handwritten as hw
from tests.model_corpus.losses import masked_token_cross_entropy_over_padding


def softmax_before_cross_entropy() -> dict:
    """mlp-dropout with a softmax after its last layer: CrossEntropyLoss gets probabilities."""
    fields = hw.mlp_dropout()
    return dict(fields, model=nn.Sequential(*fields["model"], nn.Softmax(dim=1)), name="softmax-before-ce")


class WithUnusedLayer(nn.Module):
    """mlp-dropout's layers, and ``extra``, defined but never called."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.extra = nn.Linear(64, 64)

    def forward(self, x):
        return self.body(x)


def layer_not_called() -> dict:
    fields = hw.mlp_dropout()
    model = hw.seeded(51, lambda: WithUnusedLayer(fields["model"]))
    return dict(fields, model=model, name="layer-not-called")


def masked_mean_over_padding() -> dict:
    """padded-tagger whose masked loss divides the sum by all 96 positions instead of the 59 real tokens."""
    return dict(hw.padded_tagger(), loss=masked_token_cross_entropy_over_padding, name="masked-mean-over-padding")


class ViewedLSTM(hw.SequenceFirstLSTM):
    """The sequence-first LSTM with x.view(T, N, F) where x.transpose(0, 1) belongs: same shape, samples mixed."""

    def to_time_first(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[1], x.shape[0], x.shape[2])


def view_instead_of_transpose() -> dict:
    return dict(hw.lstm_sequence_first(), model=hw.seeded(5, ViewedLSTM), name="view-instead-of-transpose")


def hook_frozen_weight_decay() -> dict:
    """hook-frozen with AdamW(weight_decay=0.01): the hook zeroes the gradient, the decoupled decay still shrinks
    the weights."""
    fields = hw.hook_frozen(optimizer=lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01))
    return dict(fields, name="hook-frozen-weight-decay")


class TimeFirstLSTM(hw.SequenceFirstLSTM):
    """The sequence-first LSTM without the transpose: it takes (T, N, F) as the LSTM does."""

    def to_time_first(self, x: torch.Tensor) -> torch.Tensor:
        return x


def time_first_inputs() -> dict:
    """(T, N, F) inputs with T = N = 8 given as the batch: dim 0 is time, but it has the targets' size."""
    fields = hw.lstm_sequence_first()
    x = torch.randn(hw.N, hw.N, hw.STEP_FEATURES, generator=generator(151))  # (T, N, F), T = N
    return dict(fields, model=hw.seeded(5, TimeFirstLSTM), inputs=x, name="time-first-inputs")


__all__ = [
    "hook_frozen_weight_decay",
    "layer_not_called",
    "masked_mean_over_padding",
    "softmax_before_cross_entropy",
    "time_first_inputs",
    "view_instead_of_transpose",
]
