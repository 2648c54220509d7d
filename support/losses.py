"""A table of loss functions with a first-principles reference per loss, after PyTorch's
``common_modules.py``: each entry says what the loss's terms are, how many terms one sample
contributes, and records known deviations from "one loss per sample" with a reason.

The references are written from the formulas in the PyTorch docs of each loss module, not by calling
the module, so that a test comparing the module against them can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from support import _arguments
from support.errors import SpecInputError
from support.tensors import generator

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: object) -> str:
    return _arguments.one_of("reduction", reduction, REDUCTIONS)  # type: ignore[return-value]


@dataclass(frozen=True)
class LossCase:
    """One loss module and its reference.

    kind: "class" (one term per sample: CrossEntropy, NLL) or "elementwise" (one term per element of
    the prediction: MSE, L1, ...). ``reference_terms(input, target)`` returns the unreduced terms from
    the documented formula.
    """

    name: str
    module: Callable[..., nn.Module]
    kind: str
    reference_terms: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    deviations: tuple[str, ...] = field(default=())

    def make(self, reduction: str = "mean") -> nn.Module:
        return self.module(reduction=check_reduction(reduction))

    def prediction_shape(self, batch_size: int, feature_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the loss input for a batch: (N, C) for class losses, (N, *feature_shape) otherwise."""
        _check_batch(batch_size, feature_shape)
        if self.kind == "class":
            if len(feature_shape) != 1 or feature_shape[0] < 2:
                raise SpecInputError(
                    f"{self.name}: feature_shape must be (C,) with C >= 2 classes, got {feature_shape}"
                )
        return (batch_size, *feature_shape)

    def target(self, batch_size: int, feature_shape: tuple[int, ...], *, seed: int, device="cpu", dtype=torch.float64):
        """A seeded target for a batch of this loss (class indices, or values of the prediction's shape)."""
        shape = self.prediction_shape(batch_size, feature_shape)
        _arguments.floating_dtype("dtype", dtype)
        g = generator(seed)
        if self.kind == "class":
            return torch.randint(0, feature_shape[0], (batch_size,), generator=g).to(device)
        if self.name == "BCEWithLogitsLoss":
            return torch.rand(shape, generator=g, dtype=torch.float64).round().to(device=device, dtype=dtype)
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)

    def sample_batch(
        self, batch_size: int, feature_shape: tuple[int, ...], *, seed: int, dtype=torch.float64, device="cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A seeded (loss input, target) pair: standard-normal raw predictions mapped by ``to_loss_input``."""
        shape = self.prediction_shape(batch_size, feature_shape)
        _arguments.floating_dtype("dtype", dtype)
        g = generator(seed)
        raw = torch.randn(shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
        return (
            self.to_loss_input(raw),
            self.target(batch_size, feature_shape, seed=seed + 1, device=device, dtype=dtype),
        )

    def to_loss_input(self, raw: torch.Tensor) -> torch.Tensor:
        """Map a raw network output to what the loss expects (log-probabilities for NLL)."""
        return F.log_softmax(raw, dim=1) if self.name == "NLLLoss" else raw

    def terms_per_sample(self, prediction: torch.Tensor) -> int:
        """How many loss terms one sample contributes: 1 for class losses, its element count otherwise."""
        if prediction.dim() < 1 or prediction.shape[0] < 1:
            raise SpecInputError(
                f"prediction must have a non-empty batch dimension, got shape {tuple(prediction.shape)}"
            )
        return 1 if self.kind == "class" else int(prediction[0].numel())


def _check_batch(batch_size: object, feature_shape: object) -> None:
    _arguments.positive_int("batch_size", batch_size)
    _arguments.shape("feature_shape", feature_shape, allow_empty=True)


def smooth_l1_terms(x, y, beta=1.0):
    """SmoothL1Loss's documented terms: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere."""
    d = (x - y).abs()
    return torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)


def huber_terms(x, y, delta=1.0):
    """HuberLoss's documented terms: 0.5 d^2 where |d| <= delta, delta (|d| - 0.5 delta) elsewhere."""
    d = (x - y).abs()
    return torch.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta))


def _cross_entropy(logits, target):
    # -log softmax(z)_y = logsumexp(z) - z_y
    return torch.logsumexp(logits, dim=1) - logits.gather(1, target[:, None]).squeeze(1)


def _nll(log_probs, target):
    return -log_probs.gather(1, target[:, None]).squeeze(1)


def _bce_with_logits(z, y):
    # -[y log s(z) + (1-y) log(1-s(z))], written in the overflow-free form max(z,0) - z y + log(1+e^-|z|)
    return z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))


ELEMENTWISE_DEVIATION = "'none' returns one term per element, not per sample: a sample's loss is its row's mean or sum"


def _elementwise(name, module, reference):
    return LossCase(name, module, "elementwise", reference, deviations=(ELEMENTWISE_DEVIATION,))


LOSS_CASES: tuple[LossCase, ...] = (
    _elementwise("MSELoss", nn.MSELoss, lambda x, y: (x - y) ** 2),
    _elementwise("L1Loss", nn.L1Loss, lambda x, y: (x - y).abs()),
    _elementwise("SmoothL1Loss", nn.SmoothL1Loss, smooth_l1_terms),
    _elementwise("HuberLoss", nn.HuberLoss, huber_terms),
    _elementwise("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, _bce_with_logits),
    LossCase("CrossEntropyLoss", nn.CrossEntropyLoss, "class", _cross_entropy),
    LossCase(
        "NLLLoss",
        nn.NLLLoss,
        "class",
        _nll,
        deviations=("expects log-probabilities; to_loss_input applies log_softmax",),
    ),
)

LOSS_CASES_BY_NAME = {c.name: c for c in LOSS_CASES}


def loss_case(name: str) -> LossCase:
    _arguments.one_of("loss", name, sorted(LOSS_CASES_BY_NAME))
    return LOSS_CASES_BY_NAME[name]


def reduce_reference(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    """The documented reductions of unreduced terms: mean over all terms, sum, or the terms themselves."""
    check_reduction(reduction)
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / terms.numel()


# ---------------------------------------------------------------- losses on (log-)probabilities
# Two more built-in losses, kept out of LOSS_CASES (whose losses take any real prediction): their input must lie
# in a restricted range, so ``to_loss_input`` maps a raw output into it and ``target`` draws a target in range.
def _kl_div(log_q, p):
    # PyTorch docs, torch.nn.KLDivLoss: pointwise L = target (log target - input), with input the
    # log-probabilities log q; a zero target contributes 0 (0 log 0 = 0, hence xlogy)
    return torch.xlogy(p, p) - p * log_q


def _bce(prob, y):
    # PyTorch docs, torch.nn.BCELoss: -[y log x + (1 - y) log(1 - x)], each log clamped to >= -100
    return -(y * prob.log().clamp(min=-100) + (1 - y) * torch.log1p(-prob).clamp(min=-100))


class ProbabilityLossCase(LossCase):
    """A loss whose input is a probability (BCELoss: sigmoid of the raw output) or a row of log-probabilities
    (KLDivLoss: log_softmax over dim 1), with targets in range: a 0/1 label per element for BCELoss, a
    probability distribution per row (softmax over dim 1) for KLDivLoss. Elementwise: one term per element."""

    def to_loss_input(self, raw: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(raw, dim=1) if self.name == "KLDivLoss" else torch.sigmoid(raw)

    def target(self, batch_size: int, feature_shape: tuple[int, ...], *, seed: int, device="cpu", dtype=torch.float64):
        shape = self.prediction_shape(batch_size, feature_shape)
        _arguments.floating_dtype("dtype", dtype)
        g = generator(seed)
        if self.name == "KLDivLoss":
            t = F.softmax(torch.randn(shape, generator=g, dtype=torch.float64), dim=1)
        else:
            t = torch.rand(shape, generator=g, dtype=torch.float64).round()
        return t.to(device=device, dtype=dtype)


PROBABILITY_LOSS_CASES: tuple[ProbabilityLossCase, ...] = (
    ProbabilityLossCase(
        "KLDivLoss",
        nn.KLDivLoss,
        "elementwise",
        _kl_div,
        deviations=(
            ELEMENTWISE_DEVIATION,
            "expects log-probabilities as input (to_loss_input applies log_softmax over dim 1) and probabilities "
            "as target; also takes reduction='batchmean' (the sum / batch size, the KL divergence per sample), "
            "and its 'mean' (sum / element count) warns",
        ),
    ),
    ProbabilityLossCase(
        "BCELoss",
        nn.BCELoss,
        "elementwise",
        _bce,
        deviations=(
            ELEMENTWISE_DEVIATION,
            "expects probabilities (to_loss_input applies sigmoid); logs clamped at -100",
        ),
    ),
)
