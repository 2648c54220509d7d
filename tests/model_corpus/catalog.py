"""The corpus: healthy models as other people write them, and broken variants of some of them.

``HEALTHY``: one ``CorpusModel`` per model -- its id, family, factory (``package.module:function``, what
``--model`` takes), the optional package it needs, the checks that should answer n/a, and the ``Note``s the checks
should give on it: what is unusual but healthy about it (a zero-initialised branch, a layer scale of 1e-6, a bias
that cannot affect the loss), which checks must not fail because of it, and the names a note should cite.
On a healthy model every check should pass; one listed in ``not_applicable`` may answer n/a instead (it does not
apply). No healthy model should fail a check or make it raise.

``BROKEN``: one ``BrokenVariant`` per bug -- a small change of a healthy corpus model, the check that must fail on
it, and the words its message must contain to name the cause.

Factories return the fields of support/model_check/subject.py's contract, with two additions the checks will
accept: a forward may return a Mapping (or a transformers ``ModelOutput``) with a ``logits`` entry, and (N, T, C)
class-last sequence logits are scored by ``support.model_check.losses.SequenceCrossEntropyLoss``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

CHECK_NAMES = (
    "every-parameter-gets-a-gradient",
    "one-step-updates-parameters",
    "mean-is-sum-over-terms",
    "samples-are-independent",
    "per-sample-gradients-add-up",
    "loss-at-init-is-near-log-c",
    "no-softmax-before-cross-entropy",
    "gradient-norms-at-init",
    "can-overfit-one-batch",
)
VALIDATION = "validation"  # a broken variant that load_subject must refuse with one SpecInputError
GRADIENT_CHECKS = ("every-parameter-gets-a-gradient", "one-step-updates-parameters")


@dataclass(frozen=True)
class Note:
    """Something unusual but healthy that ``checks`` should pass and may mention, citing ``names``."""

    about: str
    checks: tuple[str, ...]
    names: tuple[str, ...] = ()


class _Factory:
    """What every corpus entry has: its factory (``factory_spec``, package.module:function, what --model takes) and
    whether the optional package it ``requires`` is installed."""

    factory_spec: str
    requires: str | None

    @property
    def factory(self) -> Callable[[], dict]:
        module, _, name = self.factory_spec.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def available(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


@dataclass(frozen=True)
class CorpusModel(_Factory):
    id: str
    family: str  # "transformers" | "timm" | "torchvision" | "hand-written"
    factory_spec: str  # package.module:function
    requires: str | None = None  # the optional package it needs
    notes: tuple[Note, ...] = ()
    not_applicable: tuple[str, ...] = ()  # checks that should answer n/a


@dataclass(frozen=True)
class BrokenVariant(_Factory):
    id: str
    base: str  # the id of the healthy corpus model it changes
    change: str
    factory_spec: str
    check: str  # the check that must fail, or VALIDATION: loading the factory must be one usage error
    words: tuple[str, ...]  # what its message must contain to name the cause
    also_fail: tuple[str, ...] = ()  # other checks that fail on it, by the same cause
    requires: str | None = None


_HW = "tests.model_corpus.handwritten"
_HF = "tests.model_corpus.hf"
_TIMM = "tests.model_corpus.timm_models"
_TV = "tests.model_corpus.torchvision_models"
REGRESSION_NA = ("loss-at-init-is-near-log-c", "no-softmax-before-cross-entropy")

HEALTHY: tuple[CorpusModel, ...] = (
    # ------------------------------------------------------------ Hugging Face transformers
    CorpusModel(
        "hf-bert-classifier",
        "transformers",
        f"{_HF}:bert_classifier",
        "transformers",
        notes=(
            Note("the forward returns a ModelOutput: its .logits are the output", CHECK_NAMES),
            Note(
                "the attention key bias cannot affect the loss: it adds q . b_k to every score of a query, and the "
                "softmax over the keys removes a constant (its gradient is 0 up to rounding, ~1e-13)",
                GRADIENT_CHECKS,
                ("bert.encoder.layer.0.attention.self.key.bias", "bert.encoder.layer.1.attention.self.key.bias"),
            ),
            Note(
                "the query and key weights (and the query bias) get small but real gradients at init, ~1e-5 of the "
                "largest: with init std 0.02 the attention is near uniform, so the scores barely matter yet",
                GRADIENT_CHECKS,
                ("bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.key.weight"),
            ),
            Note(
                "inputs are a dict of integer tensors (input_ids, attention_mask, token_type_ids): the dependencies "
                "are charted through the word embeddings",
                ("samples-are-independent",),
                ("bert.embeddings.word_embeddings",),
            ),
            Note("dropout 0.1 in train mode", ("can-overfit-one-batch",)),
        ),
    ),
    CorpusModel(
        "hf-distilbert-classifier",
        "transformers",
        f"{_HF}:distilbert_classifier",
        "transformers",
        notes=(
            Note("the forward returns a ModelOutput: its .logits are the output", CHECK_NAMES),
            Note(
                "the attention key bias cannot affect the loss (softmax over the keys removes q . b_k)",
                GRADIENT_CHECKS,
                (
                    "distilbert.transformer.layer.0.attention.k_lin.bias",
                    "distilbert.transformer.layer.1.attention.k_lin.bias",
                ),
            ),
            Note(
                "the query and key weights (and the query bias) get small but real gradients at init (near-uniform "
                "attention)",
                GRADIENT_CHECKS,
                (
                    "distilbert.transformer.layer.0.attention.q_lin.weight",
                    "distilbert.transformer.layer.0.attention.k_lin.weight",
                ),
            ),
            Note("dropout 0.1, and 0.2 before the classifier, in train mode", ("can-overfit-one-batch",)),
        ),
    ),
    CorpusModel(
        "hf-gpt2-causal-lm",
        "transformers",
        f"{_HF}:gpt2_causal_lm",
        "transformers",
        notes=(
            Note(
                "the forward returns a CausalLMOutput whose .logits are (N, T, V), class-last; n_classes = V = 64 "
                "(validation must not compare it with dim 1, the 12 positions)",
                CHECK_NAMES,
            ),
            Note(
                "SequenceCrossEntropyLoss(shift=1): the terms are the 51 next-token labels that are not -100 (59 real "
                "tokens less the first of each of the 8 sequences)",
                ("mean-is-sum-over-terms",),
                ("51",),
            ),
            Note(
                "ln C is ln 64 and the class rows are the last dim",
                ("loss-at-init-is-near-log-c", "no-softmax-before-cross-entropy"),
            ),
            Note(
                "accuracy counts the next-token predictions at the 51 non-ignored labels (AdamW 3e-3 fits them all in "
                "about 70 steps)",
                ("can-overfit-one-batch",),
            ),
            Note(
                "causal attention: output t depends on inputs <= t of its own sequence only",
                ("samples-are-independent",),
            ),
            Note("lm_head.weight is tied to transformer.wte.weight (one parameter)", GRADIENT_CHECKS),
        ),
    ),
    # ------------------------------------------------------------ timm
    CorpusModel(
        "timm-test-resnet",
        "timm",
        f"{_TIMM}:resnet",
        "timm",
        notes=(
            Note(
                "zero-initialised last BatchNorm of each block (timm's zero_init_last): the layers of each residual "
                "branch before it get a zero gradient at init, and learn once that BatchNorm weight has moved "
                "(AdamW's weight decay moves the non-zero ones anyway)",
                GRADIENT_CHECKS,
                ("layer1.0.bn2.weight", "layer1.0.conv1.weight", "layer1.0.bn1.bias", "layer3.0.bn3.weight"),
            ),
        ),
    ),
    CorpusModel(
        "timm-test-convnext",
        "timm",
        f"{_TIMM}:convnext",
        "timm",
        notes=(
            Note(
                "layer-scale gamma 1e-6 on each block's branch (ls_init_value): the branch's gradients are ~1e-8 of "
                "the largest, small but not zero",
                GRADIENT_CHECKS,
                ("stages.0.blocks.0.gamma", "stages.0.blocks.0.conv_dw.weight"),
            ),
        ),
    ),
    CorpusModel(
        "timm-test-vit",
        "timm",
        f"{_TIMM}:vit",
        "timm",
        notes=(
            Note(
                "fused qkv projection: the key third of blocks.*.attn.qkv.bias cannot affect the loss, the rest can",
                GRADIENT_CHECKS,
                ("blocks.0.attn.qkv.bias",),
            ),
        ),
    ),
    CorpusModel(
        "timm-test-efficientnet",
        "timm",
        f"{_TIMM}:efficientnet",
        "timm",
        notes=(
            Note(
                "the bias of a block's last BatchNorm (a linear bottleneck: no activation after it) feeds the next "
                "block's 1x1 conv and BatchNorm, which cancels it through the conv: true gradient 0, harmless",
                GRADIENT_CHECKS,
                ("blocks.2.0.bn2.bias", "blocks.3.0.bn3.bias", "blocks.4.0.bn3.bias"),
            ),
        ),
    ),
    # ------------------------------------------------------------ torchvision
    CorpusModel(
        "tv-resnet18",
        "torchvision",
        f"{_TV}:resnet18",
        "torchvision",
        notes=(
            Note(
                "zero_init_residual=True: the last BatchNorm weight of each BasicBlock is 0, so conv1, bn1 and conv2 "
                "of each block get a zero gradient at init",
                GRADIENT_CHECKS,
                ("layer1.0.bn2.weight", "layer1.0.conv1.weight", "layer4.1.conv2.weight"),
            ),
            Note("11.2M parameters: the checks' cost bounds apply", CHECK_NAMES),
        ),
    ),
    CorpusModel(
        "tv-mobilenet-v3-small",
        "torchvision",
        f"{_TV}:mobilenet_v3_small",
        "torchvision",
        notes=(
            Note(
                "the bias of each block's projection BatchNorm (no activation after it) feeds the next block's 1x1 "
                "conv and BatchNorm, which cancels it: true gradient 0, harmless",
                GRADIENT_CHECKS,
                ("features.1.block.2.1.bias", "features.4.block.3.1.bias"),
            ),
            Note("dropout 0.2 before the classifier, hard-swish, squeeze-excitation", ("can-overfit-one-batch",)),
        ),
    ),
    CorpusModel(
        "tv-efficientnet-b0",
        "torchvision",
        f"{_TV}:efficientnet_b0",
        "torchvision",
        notes=(
            Note(
                "the bias of each block's projection BatchNorm feeds the next block's 1x1 conv and BatchNorm, which "
                "cancels it: true gradient 0, harmless",
                GRADIENT_CHECKS,
                ("features.1.0.block.2.1.bias", "features.2.0.block.3.1.bias"),
            ),
            Note(
                "train-mode randomness (stochastic depth up to 0.2, dropout 0.2) spreads the loss at init over seeds: "
                "1.1 to 2.07 x ln 10 over 20 seeds of the global RNG, so a check that reads it in train mode against "
                "2 ln C passes or fails by the seed",
                ("loss-at-init-is-near-log-c",),
            ),
            Note(
                "4.0M parameters, the slowest model of the corpus (about 6 s for all checks on one thread)", CHECK_NAMES
            ),
        ),
    ),
    # ------------------------------------------------------------ hand-written
    CorpusModel(
        "mlp-dropout",
        "hand-written",
        f"{_HW}:mlp_dropout",
        notes=(
            Note(
                "dropout 0.2 in train mode: the forward is random in train mode",
                ("can-overfit-one-batch", "samples-are-independent"),
            ),
        ),
    ),
    CorpusModel(
        "frozen-backbone-adamw",
        "hand-written",
        f"{_HW}:frozen_backbone_adamw",
        notes=(
            Note(
                "a backbone with requires_grad=False (BatchNorm in train mode still updates its running statistics) "
                "and AdamW with biases and norm weights in a group without weight decay",
                GRADIENT_CHECKS,
                ("backbone.0.weight",),
            ),
        ),
    ),
    CorpusModel(
        "mse-regression",
        "hand-written",
        f"{_HW}:mse_regression",
        not_applicable=REGRESSION_NA,
        notes=(
            Note(
                "MSELoss over (N, 3) float targets: the mean divides by 8 x 3 = 24 terms",
                ("mean-is-sum-over-terms",),
                ("24",),
            ),
        ),
    ),
    CorpusModel(
        "bn-cnn-conv-bias",
        "hand-written",
        f"{_HW}:bn_cnn_conv_bias",
        notes=(
            Note(
                "conv biases feed BatchNorm in train mode, which cancels them: harmless, they train nothing "
                "(bias=False)",
                GRADIENT_CHECKS,
                ("features.0.bias", "features.3.bias", "bias=False"),
            ),
        ),
    ),
    CorpusModel(
        "lstm-sequence-first",
        "hand-written",
        f"{_HW}:lstm_sequence_first",
        notes=(
            Note(
                "nn.LSTM with batch_first=False inside; the batch-first (N, T, F) inputs are transposed in forward and "
                "the class is read from h_n, so the LSTM's per-step output gets no gradient (a module output without "
                "a gradient)",
                ("samples-are-independent", "per-sample-gradients-add-up", "gradient-norms-at-init"),
            ),
        ),
    ),
    CorpusModel(
        "padded-tagger",
        "hand-written",
        f"{_HW}:padded_tagger",
        not_applicable=("no-softmax-before-cross-entropy",),
        notes=(
            Note(
                "(N, T, C) class-last logits with n_classes = 7",
                ("loss-at-init-is-near-log-c", "can-overfit-one-batch"),
            ),
            Note(
                "a masking loss callable: its mean divides by the 59 real tokens of 96 positions",
                ("mean-is-sum-over-terms",),
                ("59", "96"),
            ),
            Note(
                "accuracy counts the 59 real tokens (Adam 2e-2 fits them all in about 15 steps)",
                ("can-overfit-one-batch",),
            ),
        ),
    ),
    CorpusModel(
        "label-smoothing",
        "hand-written",
        f"{_HW}:label_smoothing",
        notes=(
            Note(
                "CrossEntropyLoss(label_smoothing=0.1) with 10 classes: the loss cannot fall below the entropy of the "
                "smoothed targets, 0.500 nats (0.91 on the label, 0.01 on each other class), about ln 10 / 4.6, so it "
                "cannot fall 10-fold",
                ("can-overfit-one-batch",),
                ("label_smoothing",),
            ),
        ),
    ),
    CorpusModel(
        "zero-init-residual",
        "hand-written",
        f"{_HW}:zero_init_residual",
        notes=(
            Note(
                "the last layer of each residual branch is initialised to 0 (Fixup/SkipInit): each branch's fc1 gets a "
                "zero gradient at init and learns once fc2 has moved",
                GRADIENT_CHECKS,
                ("blocks.0.fc1.weight", "blocks.0.fc2.weight"),
            ),
        ),
    ),
    CorpusModel(
        "layer-scale",
        "hand-written",
        f"{_HW}:layer_scale",
        notes=(
            Note(
                "each residual branch is multiplied by a learnable gamma initialised to 1e-6: the branch's gradients "
                "are ~1e-7 of the largest, small but not zero",
                GRADIENT_CHECKS,
                ("blocks.0.gamma", "blocks.0.mlp.0.weight"),
            ),
        ),
    ),
    CorpusModel(
        "optimizer-closure",
        "hand-written",
        f"{_HW}:optimizer_closure",
        notes=(
            Note(
                "the optimizer ignores its params argument and takes the factory's model.parameters(): a check that "
                "runs on a copy of the model must give it that copy's parameters or say why it cannot",
                ("one-step-updates-parameters", "gradient-norms-at-init", "can-overfit-one-batch"),
            ),
        ),
    ),
    CorpusModel(
        "hook-frozen",
        "hand-written",
        f"{_HW}:hook_frozen",
        notes=(
            Note(
                "embed.weight is frozen by a tensor hook that zeroes its gradient and named in frozen; Adam without "
                "weight decay leaves it unchanged. copy.deepcopy of the model drops tensor hooks (Parameter's "
                "__deepcopy__ copies the data only)",
                GRADIENT_CHECKS,
                ("embed.weight",),
            ),
        ),
    ),
    CorpusModel(
        "dict-logits",
        "hand-written",
        f"{_HW}:dict_logits",
        notes=(Note("the forward returns {'logits': ..., 'features': ...}: the logits are the output", CHECK_NAMES),),
    ),
    CorpusModel(
        "sparse-embedding-bag",
        "hand-written",
        f"{_HW}:sparse_embedding_bag",
        notes=(
            Note(
                "nn.EmbeddingBag(sparse=True): bag.weight's gradient is a sparse tensor (SGD takes it)",
                CHECK_NAMES,
                ("bag.weight",),
            ),
            Note(
                "integer inputs into an nn.EmbeddingBag (not an nn.Embedding): the dependencies are charted through "
                "its output",
                ("samples-are-independent",),
                ("bag",),
            ),
        ),
    ),
    CorpusModel(
        "bf16-mlp",
        "hand-written",
        f"{_HW}:bf16_mlp",
        notes=(
            Note(
                "bfloat16 weights, inputs and gradients: 'zero up to rounding' is relative to bfloat16's eps "
                "(7.8e-3), 128 eps of it is the largest gradient itself",
                GRADIENT_CHECKS,
            ),
        ),
    ),
)

_BR = "tests.model_corpus.broken"
BROKEN: tuple[BrokenVariant, ...] = (
    BrokenVariant(
        "softmax-before-ce",
        "mlp-dropout",
        "nn.Softmax(dim=1) after the last layer, before CrossEntropyLoss",
        f"{_BR}:softmax_before_cross_entropy",
        "no-softmax-before-cross-entropy",
        ("probabilities", "softmax"),
        also_fail=("can-overfit-one-batch",),
    ),
    BrokenVariant(
        "layer-not-called",
        "mlp-dropout",
        "a layer `extra` defined in __init__ but never called in forward",
        f"{_BR}:layer_not_called",
        "every-parameter-gets-a-gradient",
        ("extra.weight", "extra.bias"),
        also_fail=("one-step-updates-parameters",),
    ),
    BrokenVariant(
        "masked-mean-over-padding",
        "padded-tagger",
        "the masked loss divides by every position (96), padding included, instead of the 59 real tokens",
        f"{_BR}:masked_mean_over_padding",
        "mean-is-sum-over-terms",
        ("96", "59"),
    ),
    # x.view(T, N, F) of a (N, T, F) batch: LSTM sample b at time t reads row-major element t*N + b of the N*T
    # (sample, step) vectors, i.e. sample (t*N + b) // T; with N = 8, T = 10, output 0 reads samples 0 (t = 0, 1),
    # 1 (t = 2), 2 (t = 3), ...: the pair (0, 1) is coupled
    BrokenVariant(
        "view-instead-of-transpose",
        "lstm-sequence-first",
        "x.view(T, N, F) instead of x.transpose(0, 1) before the sequence-first LSTM",
        f"{_BR}:view_instead_of_transpose",
        "samples-are-independent",
        ("(0, 1)",),
        also_fail=("per-sample-gradients-add-up",),
    ),
    BrokenVariant(
        "hook-frozen-weight-decay",
        "hook-frozen",
        "the same hook-frozen embedding, but AdamW with "
        "weight_decay=0.01 (decoupled decay moves it whatever its gradient)",
        f"{_BR}:hook_frozen_weight_decay",
        "one-step-updates-parameters",
        ("embed.weight", "weight_decay"),
    ),
    # the forward no longer transposes (it expects (T, N, F)) and the batch is given time-first, T = N = 8, so that
    # dim 0 of the inputs matches the 8 targets: the first 7 "samples" are 7 time steps of all 8 sequences, whose
    # output has 8 rows, not 7
    BrokenVariant(
        "time-first-inputs",
        "lstm-sequence-first",
        "the batch given time-first, (T, N, F) with T = N = 8, to the sequence-first LSTM without its transpose",
        f"{_BR}:time_first_inputs",
        VALIDATION,
        ("dim 0 of the inputs is not the batch", "sequence-first", "batch_first=True"),
    ),
)

ALL_IDS = tuple(m.id for m in HEALTHY) + tuple(b.id for b in BROKEN)
if len(set(ALL_IDS)) != len(ALL_IDS):
    raise RuntimeError(f"corpus ids must be unique: {ALL_IDS}")


def healthy(model_id: str) -> CorpusModel:
    return next(m for m in HEALTHY if m.id == model_id)


__all__ = ["BROKEN", "CHECK_NAMES", "HEALTHY", "BrokenVariant", "CorpusModel", "Note", "healthy"]
