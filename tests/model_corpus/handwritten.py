"""Hand-written healthy models, as people write them in their own training code.

Each factory takes no argument and returns the fields of a model under test (support/model_check/subject.py), with
its own batch of ``N`` random samples, random labels (memorising the batch is all "overfit one batch" asks), its
loss and its optimizer. Weights come from a fixed seed (``seeded_init``) and data from a seeded generator: every
call returns the same model and batch, and the caller's global RNG is left alone.
"""

from __future__ import annotations

import torch
from torch import nn

from support.tensors import generator, seeded_init
from tests.model_corpus.losses import PAD_LABEL, masked_token_cross_entropy

N = 8  # samples per batch
FEATURES, CLASSES = 20, 5
IMAGE = 16  # side of the hand-written CNNs' images
VOCAB, PAD_TOKEN = 30, 0
# lengths of the padded token batches: 59 real tokens of 8 x 12 = 96 positions (the padded tagger's check 3 counts
# them: 12 + 11 + 9 + 8 + 7 + 5 + 4 + 3 = 59)
LENGTHS = (12, 11, 9, 8, 7, 5, 4, 3)
STEPS, STEP_FEATURES = 10, 6  # sequences of the LSTM classifiers


def seeded(seed: int, build):
    with seeded_init(seed):
        return build()


def _classification_batch(seed: int, *shape: int, classes: int = CLASSES) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    return torch.randn(N, *shape, generator=g), torch.randint(0, classes, (N,), generator=g)


def _adam(lr: float):
    return lambda params: torch.optim.Adam(params, lr=lr)


def padded_tokens(seed: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (N, T) padded with PAD_TOKEN to the longest of ``LENGTHS``, and a label per position with PAD_LABEL
    at the padding."""
    g = generator(seed)
    length = max(LENGTHS)
    real = torch.arange(length)[None, :] < torch.tensor(LENGTHS)[:, None]
    tokens = torch.where(real, torch.randint(1, VOCAB, (N, length), generator=g), PAD_TOKEN)
    labels = torch.where(real, torch.randint(0, classes, (N, length), generator=g), PAD_LABEL)
    return tokens, labels


# ---------------------------------------------------------------- an MLP with dropout
class DropoutMLP(nn.Sequential):
    def __init__(self, features: int = FEATURES, width: int = 64, classes: int = CLASSES, p: float = 0.2):
        super().__init__(
            nn.Linear(features, width),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(width, classes),
        )


def mlp_dropout() -> dict:
    x, y = _classification_batch(101, FEATURES)
    return {
        "model": seeded(1, DropoutMLP),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "mlp-dropout",
    }


# ---------------------------------------------------------------- a frozen backbone, AdamW with no-decay groups
class Backbone(nn.Sequential):
    """A small convolutional feature extractor standing in for a pretrained one."""

    def __init__(self, width: int = 16):
        super().__init__(
            nn.Conv2d(3, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )


class FineTuned(nn.Module):
    def __init__(self, width: int = 16, classes: int = 6):
        super().__init__()
        self.backbone = Backbone(width)
        self.backbone.requires_grad_(False)  # "pretrained": only the head trains
        self.head = nn.Sequential(nn.Linear(2 * width, 64), nn.ReLU(), nn.LayerNorm(64), nn.Linear(64, classes))

    def forward(self, x):
        return self.head(self.backbone(x))


def adamw_no_decay_groups(params, lr: float = 3e-3, weight_decay: float = 0.05) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, with biases and normalisation weights (the 1-d tensors) in a group
    without weight decay (as timm's param_groups_weight_decay and most fine-tuning scripts do)."""
    trainable = [p for p in params if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


def frozen_backbone_adamw() -> dict:
    x, y = _classification_batch(102, 3, IMAGE, IMAGE, classes=6)
    return {
        "model": seeded(2, FineTuned),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": adamw_no_decay_groups,
        "name": "frozen-backbone-adamw",
    }


# ---------------------------------------------------------------- MSE regression
def mse_regression() -> dict:
    g = generator(103)
    x, y = torch.randn(N, FEATURES, generator=g), torch.randn(N, 3, generator=g)
    model = seeded(
        3, lambda: nn.Sequential(nn.Linear(FEATURES, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
    )
    return {
        "model": model,
        "inputs": x,
        "targets": y,
        "loss": nn.MSELoss(),
        "optimizer": _adam(1e-2),
        "name": "mse-regression",
    }


# ---------------------------------------------------------------- a BatchNorm CNN with conv biases
class BiasedConvBN(nn.Module):
    """Conv2d(bias=True) -> BatchNorm2d -> ReLU, twice: the conv biases are cancelled by BatchNorm's mean
    subtraction in train mode (harmless: they train nothing)."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(32, classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def bn_cnn_conv_bias() -> dict:
    x, y = _classification_batch(104, 3, IMAGE, IMAGE)
    return {
        "model": seeded(4, BiasedConvBN),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "bn-cnn-conv-bias",
    }


# ---------------------------------------------------------------- a sequence-first LSTM fed batch-first
class SequenceFirstLSTM(nn.Module):
    """nn.LSTM with batch_first=False (its default) inside: the batch-first input (N, T, F) is transposed to
    (T, N, F) and the class is read from the last hidden state h_n."""

    def __init__(self, features: int = STEP_FEATURES, hidden: int = 24, classes: int = CLASSES):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden)
        self.head = nn.Linear(hidden, classes)

    def to_time_first(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1)

    def forward(self, x):  # x: (N, T, F)
        _, (h_n, _) = self.lstm(self.to_time_first(x))
        return self.head(h_n[-1])


def lstm_sequence_first() -> dict:
    x, y = _classification_batch(105, STEPS, STEP_FEATURES)
    return {
        "model": seeded(5, SequenceFirstLSTM),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(2e-2),
        "name": "lstm-sequence-first",
    }


# ---------------------------------------------------------------- a padded tagger with (N, T, C) logits
class PaddedTagger(nn.Module):
    """Embedding (padding_idx) -> bidirectional GRU -> a label per position, logits (N, T, C) (class-last, as
    most sequence code returns them)."""

    def __init__(self, classes: int = 7, embed: int = 16, hidden: int = 24):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed, padding_idx=PAD_TOKEN)
        self.rnn = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


def padded_tagger() -> dict:
    tokens, labels = padded_tokens(106, classes=7)
    return {
        "model": seeded(6, PaddedTagger),
        "inputs": tokens,
        "targets": labels,
        "loss": masked_token_cross_entropy,
        "optimizer": _adam(2e-2),
        "n_classes": 7,
        "name": "padded-tagger",
    }


# ---------------------------------------------------------------- a packed tagger whose output length follows the batch
class PackedTagger(nn.Module):
    """Embedding -> packed bidirectional LSTM -> a label per position, logits (N, C, T). ``pad_packed_sequence``
    without ``total_length`` pads to the longest sequence of the batch given, so the output's length follows it."""

    def __init__(self, classes: int = 6, embed: int = 16, hidden: int = 24):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed, padding_idx=PAD_TOKEN)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)  # no total_length
        return self.head(out).transpose(1, 2)


def packed_tagger_without_total_length() -> dict:
    """Healthy, but sample 0 alone (11 tokens) gives 11 positions where the batch (longest last, 12) gives 12: the
    per-sample check cannot pair one sample's output with its targets and says so (not in the healthy corpus, whose
    models pass every check)."""
    lengths = torch.tensor(list(LENGTHS[1:]) + [max(LENGTHS)])  # 11, 9, ..., 3, then the longest (12)
    g = generator(112)
    real = torch.arange(max(LENGTHS))[None, :] < lengths[:, None]
    tokens = torch.where(real, torch.randint(1, VOCAB, (N, max(LENGTHS)), generator=g), PAD_TOKEN)
    labels = torch.where(real, torch.randint(0, 6, (N, max(LENGTHS)), generator=g), PAD_LABEL)
    return {
        "model": seeded(12, PackedTagger),
        "inputs": (tokens, lengths),
        "targets": labels,
        "loss": nn.CrossEntropyLoss(ignore_index=PAD_LABEL),
        "optimizer": _adam(2e-2),
        "name": "packed-tagger-without-total-length",
    }


# ---------------------------------------------------------------- CrossEntropyLoss with label smoothing
def label_smoothing() -> dict:
    x, y = _classification_batch(107, FEATURES, classes=10)
    model = seeded(7, lambda: nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 10)))
    return {
        "model": model,
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(label_smoothing=0.1),
        "optimizer": _adam(1e-2),
        "name": "label-smoothing",
    }


# ---------------------------------------------------------------- residual branches initialised to zero
class ZeroInitBlock(nn.Module):
    """x + fc2(relu(fc1(x))) with fc2 initialised to 0 (Fixup, SkipInit, zero_init_residual): each block starts as
    the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


class ZeroInitResidualNet(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 3, classes: int = CLASSES):
        super().__init__()
        self.stem = nn.Linear(FEATURES, width)
        self.blocks = nn.Sequential(*(ZeroInitBlock(width) for _ in range(blocks)))
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def zero_init_residual() -> dict:
    x, y = _classification_batch(108, FEATURES)
    return {
        "model": seeded(8, ZeroInitResidualNet),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "zero-init-residual",
    }


# ---------------------------------------------------------------- layer scale
LAYER_SCALE_INIT = 1e-6  # CaiT's and ConvNeXt's init of the per-channel scale of each residual branch


class LayerScaleBlock(nn.Module):
    """x + gamma * mlp(norm(x)), gamma a learnable per-channel scale initialised to LAYER_SCALE_INIT."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.gamma = nn.Parameter(torch.full((width,), LAYER_SCALE_INIT))

    def forward(self, x):
        return x + self.gamma * self.mlp(self.norm(x))


class LayerScaleNet(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 3, classes: int = CLASSES):
        super().__init__()
        self.stem = nn.Linear(FEATURES, width)
        self.blocks = nn.Sequential(*(LayerScaleBlock(width) for _ in range(blocks)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.norm(self.blocks(self.stem(x))))


def layer_scale() -> dict:
    x, y = _classification_batch(109, FEATURES)
    return {
        "model": seeded(9, LayerScaleNet),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "layer-scale",
    }


# ---------------------------------------------------------------- an optimizer over the factory's own model
def optimizer_closure() -> dict:
    """The optimizer ignores the ``params`` it is given and takes the factory's ``model.parameters()``: the same
    tensors in the user's training loop, but not those of a copy of the model."""
    x, y = _classification_batch(110, FEATURES)
    model = seeded(10, lambda: nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES)))
    return {
        "model": model,
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda params: torch.optim.AdamW(model.parameters(), lr=1e-2),
        "name": "optimizer-closure",
    }


# ---------------------------------------------------------------- a parameter frozen by a gradient hook
class HookFrozenEmbedding(nn.Module):
    """A token classifier whose "pretrained" embedding is frozen by a tensor hook that zeroes its gradient (it
    stays in the optimizer); an optimizer without weight decay then leaves it unchanged."""

    def __init__(self, embed: int = 16, classes: int = CLASSES):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed, padding_idx=PAD_TOKEN)
        self.embed.weight.register_hook(lambda g: torch.zeros_like(g))
        self.head = nn.Sequential(nn.Linear(embed, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, tokens):
        mask = (tokens != PAD_TOKEN).unsqueeze(-1)
        pooled = (self.embed(tokens) * mask).sum(dim=1) / mask.sum(dim=1)
        return self.head(pooled)


def hook_frozen(optimizer=None) -> dict:
    tokens, _ = padded_tokens(111, classes=CLASSES)
    labels = torch.randint(0, CLASSES, (N,), generator=generator(211))
    return {
        "model": seeded(11, HookFrozenEmbedding),
        "inputs": tokens,
        "targets": labels,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": optimizer or _adam(1e-2),
        "frozen": ["embed.weight"],
        "name": "hook-frozen",
    }


# ---------------------------------------------------------------- a forward that returns a dict
class DictOutput(nn.Module):
    """Returns {"logits": ..., "features": ...}, as models that expose their embeddings do."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.classifier = nn.Linear(32, classes)

    def forward(self, x):
        features = self.body(x)
        return {"logits": self.classifier(features), "features": features}


def dict_logits() -> dict:
    x, y = _classification_batch(112, FEATURES)
    return {
        "model": seeded(12, DictOutput),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "dict-logits",
    }


# ---------------------------------------------------------------- sparse gradients
class BagOfTokens(nn.Module):
    """nn.EmbeddingBag(sparse=True) -> Linear: the embedding's gradient is a sparse tensor (as in recommendation
    and fastText-style models); plain SGD takes sparse gradients."""

    def __init__(self, classes: int = CLASSES, embed: int = 16):
        super().__init__()
        self.bag = nn.EmbeddingBag(VOCAB, embed, mode="mean", sparse=True)
        self.head = nn.Linear(embed, classes)

    def forward(self, tokens):
        return self.head(self.bag(tokens))


def sparse_embedding_bag() -> dict:
    g = generator(113)
    tokens = torch.randint(0, VOCAB, (N, 6), generator=g)
    labels = torch.randint(0, CLASSES, (N,), generator=g)
    return {
        "model": seeded(13, BagOfTokens),
        "inputs": tokens,
        "targets": labels,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda params: torch.optim.SGD(params, lr=0.5),
        "name": "sparse-embedding-bag",
    }


# ---------------------------------------------------------------- a model trained in bfloat16
def bf16_mlp() -> dict:
    """An MLP whose weights and inputs are bfloat16 (pure low-precision training, no autocast)."""
    x, y = _classification_batch(114, FEATURES)
    model = seeded(14, lambda: nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES)))
    return {
        "model": model.to(torch.bfloat16),
        "inputs": x.to(torch.bfloat16),
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adam(1e-2),
        "name": "bf16-mlp",
    }


__all__ = [
    "bf16_mlp",
    "bn_cnn_conv_bias",
    "dict_logits",
    "frozen_backbone_adamw",
    "hook_frozen",
    "label_smoothing",
    "layer_scale",
    "lstm_sequence_first",
    "mlp_dropout",
    "mse_regression",
    "optimizer_closure",
    "padded_tagger",
    "sparse_embedding_bag",
    "zero_init_residual",
]
