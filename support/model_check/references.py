"""The suite's reference subjects: what spec/part6_your_model checks when no ``--model`` is given.

Four small, seeded, CPU-cheap models of the kinds people train, each with one batch of 8 samples, its loss and an
optimizer that fits the batch in tens of steps:

* ``mlp``: a 3-layer ReLU MLP classifying 16-feature vectors into 4 classes (CrossEntropyLoss).
* ``cnn-batchnorm``: two 3x3 convolutions, each followed by BatchNorm2d and ReLU (no conv bias: BatchNorm's
  mean subtraction cancels it), global average pooling and a linear classifier over 8x8 one-channel images.
* ``lstm-padded``: token sequences of lengths 3 to 6 padded to 6 with token 0 (``padding_idx``), an LSTM tagger
  with a per-position label, padded positions ignored by CrossEntropyLoss(ignore_index=-100); the output is
  (N, C, T), the layout CrossEntropyLoss takes for a label per position.
* ``transformer``: a one-layer Transformer encoder (PyTorch's default post-LayerNorm, dropout 0.1) over token
  sequences with learned positions, mean-pooled into a 4-class classifier.

Labels are random: nothing is learnable beyond memorising the batch, which is what "overfit one batch" asks.
Each factory returns a fresh ``ModelUnderTest`` with the same weights and batch on every call (float32, CPU).
"""

from __future__ import annotations

import torch
from torch import nn

from support import _arguments, models
from support.model_check import REFERENCE_NAMES
from support.model_check.subject import ModelUnderTest
from support.tensors import generator, seeded_init

N, CLASSES = 8, 4
FEATURES, WIDTH = 16, 32
IMAGE = 8
VOCAB, LENGTH, EMBED, HIDDEN = 12, 6, 8, 16
D_MODEL, HEADS, FFN = 16, 2, 32
PAD_TOKEN, IGNORE = 0, -100
LR = 3e-2  # Adam's step size for these small nets: each memorises its batch within about 20 steps


def _adam(params):
    return torch.optim.Adam(params, lr=LR)


def _seeded(seed: int, build):
    with seeded_init(seed):  # weights from their own seed, the caller's RNG untouched
        return build()


# ---------------------------------------------------------------- mlp
def mlp() -> ModelUnderTest:
    g = generator(1)
    model = models.mlp(FEATURES, WIDTH, CLASSES, depth=3, activation="relu", seed=11, dtype=torch.float32)
    return ModelUnderTest(
        model=model,
        inputs=torch.randn(N, FEATURES, generator=g),
        targets=torch.randint(0, CLASSES, (N,), generator=g),
        loss=nn.CrossEntropyLoss(),
        optimizer=_adam,
        name="mlp",
    )


# ---------------------------------------------------------------- cnn with BatchNorm
class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def cnn_batchnorm() -> ModelUnderTest:
    g = generator(2)
    return ModelUnderTest(
        model=_seeded(12, SmallCNN),
        inputs=torch.randn(N, 1, IMAGE, IMAGE, generator=g),
        targets=torch.randint(0, CLASSES, (N,), generator=g),
        loss=nn.CrossEntropyLoss(),
        optimizer=_adam,
        name="cnn-batchnorm",
    )


# ---------------------------------------------------------------- LSTM tagger over padded sequences
class LSTMTagger(nn.Module):
    """Embedding (padding_idx 0) -> bidirectional LSTM -> a label per position; the output is (N, C, T).

    Bidirectional, so that each position sees its whole sequence: a left-to-right tagger could not memorise two
    sequences that share a prefix but not the label at its end (random labels make that likely)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=PAD_TOKEN)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, CLASSES)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out).transpose(1, 2)


def padded_sequences(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (N, LENGTH) of lengths 3..LENGTH padded with PAD_TOKEN, and per-position labels with IGNORE at the
    padding."""
    g = generator(seed)
    lengths = torch.randint(3, LENGTH + 1, (N,), generator=g)
    lengths[0] = LENGTH  # one full-length sequence, so the padded batch is LENGTH long
    valid = torch.arange(LENGTH)[None, :] < lengths[:, None]
    tokens = torch.where(valid, torch.randint(1, VOCAB, (N, LENGTH), generator=g), PAD_TOKEN)
    labels = torch.where(valid, torch.randint(0, CLASSES, (N, LENGTH), generator=g), IGNORE)
    return tokens, labels


def lstm_padded() -> ModelUnderTest:
    tokens, labels = padded_sequences(3)
    return ModelUnderTest(
        model=_seeded(13, LSTMTagger),
        inputs=tokens,
        targets=labels,
        loss=nn.CrossEntropyLoss(ignore_index=IGNORE),
        optimizer=_adam,
        name="lstm-padded",
    )


# ---------------------------------------------------------------- Transformer encoder classifier
class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.position = nn.Parameter(torch.randn(LENGTH, D_MODEL) * 0.02)
        layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(D_MODEL, CLASSES)

    def forward(self, tokens):
        h = self.encoder(self.embed(tokens) + self.position[: tokens.shape[1]])
        return self.head(h.mean(dim=1))


def transformer() -> ModelUnderTest:
    g = generator(4)
    return ModelUnderTest(
        model=_seeded(14, TransformerClassifier),
        inputs=torch.randint(0, VOCAB, (N, LENGTH), generator=g),
        targets=torch.randint(0, CLASSES, (N,), generator=g),
        loss=nn.CrossEntropyLoss(),
        optimizer=_adam,
        name="transformer",
    )


# the plugin parametrizes by support.model_check.REFERENCE_NAMES without importing this module: a self-test
# (tests/model_check/test_catalog.py) keeps the two in step
FACTORIES = {"mlp": mlp, "cnn-batchnorm": cnn_batchnorm, "lstm-padded": lstm_padded, "transformer": transformer}


def reference(name: str) -> ModelUnderTest:
    """The reference subject called ``name`` (one of REFERENCE_NAMES)."""
    _arguments.one_of("reference model", name, REFERENCE_NAMES)
    return FACTORIES[name]()


__all__ = ["FACTORIES", "REFERENCE_NAMES", "reference"]
