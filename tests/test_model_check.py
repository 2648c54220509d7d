"""Tests of support.model_check: each check catches a deliberately broken model and passes its corrected twin;
the healthy architectures pass the gradient-trend threshold; load_subject turns bad input into one clear
SpecInputError.

The broken models (one per check; the reshape that mixes samples breaks checks 4 and 5):
  1. a dead parameter (a layer never used, a gate behind a ReLU that is 0),
  2. a "frozen" layer kept in AdamW with its gradient masked to zero: weight decay still moves it,
  3. a masked sequence loss that divides by every position, padding included,
  4/5. a time-major tensor reshaped as if it were batch-major: samples mixed,
  6. an over-confident init (last layer x30),
  7. a softmax before CrossEntropyLoss,
  8. an exploding init (ReLU MLP of 8 layers at 4x the He std),
  9. a model that cannot fit (every ReLU dead at init: the logits do not depend on the input).
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.errors import SpecInputError
from support.model_check import checks, references
from support.model_check.subject import ModelUnderTest, load_subject, validate
from support.models import he_std
from support.tensors import generator, seeded_init
from tests.pytest_helpers import spec_project

N, FEATURES, CLASSES = references.N, references.FEATURES, references.CLASSES


def _mlp_subject(model: nn.Module, **fields) -> ModelUnderTest:
    """The mlp reference's batch, loss and optimizer around another model."""
    return replace(references.mlp(), model=model, **fields)


def _seeded(build, seed: int = 0):
    with seeded_init(seed):
        return build()


# ================================================================ the reference models
# (that every check passes on every reference model is spec/part6_your_model's run without --model)
def test_reference_factories_are_deterministic_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = references.mlp(), references.mlp()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    with pytest.raises(SpecInputError, match="unknown reference model 'resnet'"):
        references.reference("resnet")


# ================================================================ 1. a dead parameter
class DeadParameters(nn.Module):
    """``aux`` is defined but never used; ``gate`` enters through relu(gate) with gate < 0: its gradient is 0."""

    def __init__(self, dead: bool = True):
        super().__init__()
        self.body, self.head = nn.Linear(FEATURES, 32), nn.Linear(32, CLASSES)
        self.aux = nn.Linear(32, CLASSES) if dead else None
        self.gate = nn.Parameter(torch.full((32,), -1.0 if dead else 1.0))

    def forward(self, x):
        return self.head(torch.relu(self.body(x)) * (1 + torch.relu(self.gate)))


def test_check_1_names_unused_and_zero_gradient_parameters():
    result = checks.every_parameter_gets_a_gradient(_mlp_subject(_seeded(DeadParameters)))
    assert result.verdict == "fail"
    assert "aux.weight, aux.bias" in result.message and "(.grad is None" in result.message
    assert "a zero gradient (every element exactly 0" in result.message and ": gate" in result.message
    assert "3 of 7 trainable parameters" in result.message
    fixed = checks.every_parameter_gets_a_gradient(_mlp_subject(_seeded(lambda: DeadParameters(dead=False))))
    assert fixed.verdict == "pass", fixed.message


def test_check_1_exempts_frozen_parameters_and_flags_a_non_finite_loss():
    model = _seeded(DeadParameters)
    model.aux.requires_grad_(False)  # frozen the proper way: not trainable, .grad stays None
    result = checks.every_parameter_gets_a_gradient(_mlp_subject(model, frozen=("gate",)))
    assert result.verdict == "pass", result.message
    assert "2 with requires_grad=False keep .grad None" in result.message
    subject = references.mlp()
    subject.inputs = subject.inputs.clone()
    subject.inputs[0, 0] = math.nan
    assert "the loss of the batch is nan" in checks.every_parameter_gets_a_gradient(subject).message


# ================================================================ 2. a frozen layer moved by weight decay
class _ZeroGradient(torch.autograd.Function):
    """Identity forward, zero gradient backward: a gradient mask that "freezes" a parameter kept in the optimizer."""

    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class MaskedEmbeddingClassifier(nn.Module):
    """A "frozen" pretrained embedding: its gradient is masked to zero, but it stays in the optimizer."""

    def __init__(self, frozen_by: str):
        super().__init__()
        self.frozen_by = frozen_by
        self.embed = nn.Embedding(references.VOCAB, 8)
        if frozen_by == "requires_grad":
            self.embed.weight.requires_grad_(False)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, tokens):
        w = _ZeroGradient.apply(self.embed.weight) if self.frozen_by == "mask" else self.embed.weight
        return self.head(F.embedding(tokens, w).mean(dim=1))


def _token_subject(model, **fields) -> ModelUnderTest:
    t = references.transformer()
    return replace(t, model=model, **fields)


def test_check_2_catches_a_frozen_parameter_moved_by_weight_decay():
    adamw = lambda params: torch.optim.AdamW(params, lr=1e-2)
    broken = _token_subject(_seeded(lambda: MaskedEmbeddingClassifier("mask")), optimizer=adamw,
                            frozen=("embed.weight",))
    result = checks.one_step_updates_parameters(broken)
    assert result.verdict == "fail"
    assert "named frozen but changed by one step: embed.weight" in result.message
    assert "its gradient is zero but weight_decay=0.01" in result.message
    # the same model frozen with requires_grad=False: its .grad stays None and step() skips it
    fixed = _token_subject(_seeded(lambda: MaskedEmbeddingClassifier("requires_grad")), optimizer=adamw,
                           frozen=("embed.weight",))
    assert checks.one_step_updates_parameters(fixed).verdict == "pass"
    # and without weight decay the masked one does not move either (Adam's update of a zero gradient is 0)
    no_decay = replace(broken, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    assert checks.one_step_updates_parameters(no_decay).verdict == "pass"


def test_check_2_names_trainable_parameters_the_optimizer_leaves_alone():
    subject = references.mlp()
    last = subject.model[-1]
    subject.optimizer = lambda params: torch.optim.SGD([p for p in params if p is not last.weight], lr=0.1)
    result = checks.one_step_updates_parameters(subject)
    assert result.verdict == "fail" and "4.weight (not in the optimizer)" in result.message


# ================================================================ 1 and 2: a bias that a normalisation cancels
def _bias_before_batchnorm(optimizer, rewrap: bool = False) -> ModelUnderTest:
    """Linear(bias=True) -> BatchNorm1d -> ReLU -> Linear: in train mode BatchNorm subtracts each channel's batch
    mean, so the first bias has no effect and a true gradient of 0; backward leaves rounding noise (~1e-8 in
    float32). ``rewrap`` adds 0 between the two, a new tensor: the same arithmetic, but no longer the layer's own
    output feeding the normalisation, so nothing names the cause and the zero test alone must judge it."""

    class BiasThenNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.norm, self.head = nn.Linear(FEATURES, 32), nn.BatchNorm1d(32), nn.Linear(32, CLASSES)

        def forward(self, x):
            h = self.lin(x)
            return self.head(torch.relu(self.norm(h + 0.0 if rewrap else h)))

    return _mlp_subject(_seeded(BiasThenNorm), optimizer=optimizer)


# SGD at lr 1e-3 moves the bias by 1e-3 x its ~1e-8 noise, below half an ulp of its ~0.1 entries: the step leaves it
# unchanged (before the shared zero test, check 2 failed it with "the learning rate is 0" while check 1 passed it);
# Adam rescales the noise to a full step of lr: it moves
OPTIMIZERS = {"sgd": lambda p: torch.optim.SGD(p, lr=1e-3), "adam": lambda p: torch.optim.Adam(p, lr=1e-2)}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_checks_1_and_2_pass_a_bias_cancelled_by_batchnorm_alike_and_name_the_cause(optimizer):
    subject = _bias_before_batchnorm(OPTIMIZERS[optimizer])
    noise = subject.copy()
    noise.model.train()
    noise.loss(noise.forward(), noise.targets).backward()
    assert 0 < noise.model.lin.bias.grad.abs().max() < 1e-6  # rounding noise, not exactly 0
    for check in (checks.every_parameter_gets_a_gradient, checks.one_step_updates_parameters):
        result = check(subject.copy())
        assert result.verdict == "pass", f"{check.__name__}: {result.message}"
        assert "lin.bias (before BatchNorm1d 'norm')" in result.message and "bias=False" in result.message
        assert result.numbers["biases cancelled by a normalisation"] == (1, "tensors")
    assert "5 of 6 trainable parameters get a finite, non-zero gradient" in \
        checks.every_parameter_gets_a_gradient(subject.copy()).message


def test_checks_1_and_2_fail_a_gradient_zero_up_to_rounding_whose_cause_they_cannot_see():
    subject = _bias_before_batchnorm(OPTIMIZERS["sgd"], rewrap=True)
    one = checks.every_parameter_gets_a_gradient(subject.copy())
    assert one.verdict == "fail" and "a zero gradient (every element exactly 0, or 0 up to rounding" in one.message
    assert "lin.bias (max |g|" in one.message and "0 up to rounding" in one.message
    two = checks.one_step_updates_parameters(subject.copy())
    assert two.verdict == "fail" and "trainable but unchanged by the step: lin.bias (max |g|" in two.message
    assert "a zero gradient, the loss does not depend on it" in two.message
    assert "learning rate is 0" not in two.message


def test_the_zero_test_is_relative_to_the_largest_gradient_entry():
    eps32 = torch.finfo(torch.float32).eps
    edge = checks.ZERO_GRADIENT_EPS * eps32  # the threshold for a model whose largest entry is 1
    grads = {"big": torch.tensor([1.0, -0.5]), "at": torch.tensor([edge, 0.0]), "above": torch.tensor([2 * edge]),
             "exact": torch.zeros(3), "none": None, "nan": torch.tensor([math.nan])}
    assert checks._zero_gradients(grads) == ({"at": False, "exact": True}, 1.0)
    # scale-free: the same gradients times 1e-20 give the same verdicts (the NaN one is left out of the scale)
    small = {n: (g * 1e-20 if g is not None else None) for n, g in grads.items()}
    assert checks._zero_gradients(small)[0] == {"at": False, "exact": True}
    # each gradient in its own dtype's eps: a float64 entry at the float32 threshold is far above its own
    mixed = {"big": torch.tensor([1.0]), "f64": torch.tensor([edge], dtype=torch.float64)}
    assert checks._zero_gradients(mixed)[0] == {}


# ================================================================ 3. a loss divided by the wrong count
def masked_ce_wrong(out, y, reduction="mean"):
    """A per-position loss whose mean divides by every position, padding included (the bug)."""
    mask = y != references.IGNORE
    terms = F.cross_entropy(out, y.clamp_min(0), reduction="none") * mask
    if reduction == "none":
        return terms
    return terms.sum() if reduction == "sum" else terms.sum() / y.numel()


def masked_ce_right(out, y, reduction="mean"):
    mask = y != references.IGNORE
    terms = F.cross_entropy(out, y.clamp_min(0), reduction="none") * mask
    if reduction == "none":
        return terms
    return terms.sum() if reduction == "sum" else terms.sum() / mask.sum()


def test_check_3_catches_a_loss_normalised_by_the_wrong_count():
    subject = references.lstm_padded()
    n_all, n_terms = subject.targets.numel(), int((subject.targets != references.IGNORE).sum())
    assert n_terms < n_all  # the batch has padding
    result = checks.mean_is_sum_over_terms(replace(subject, loss=masked_ce_wrong))
    assert result.verdict == "fail"
    assert f"divides the sum by {n_all}" in result.message and f"has {n_terms} loss terms" in result.message
    assert result.numbers["measured denominator (grad of sum / grad of mean)"][0] == pytest.approx(n_all)
    right = checks.mean_is_sum_over_terms(replace(subject, loss=masked_ce_right))
    assert right.verdict == "pass", right.message
    # PyTorch's own ignore_index divides by the non-ignored count (mean.denominator.ignore-index)
    assert checks.mean_is_sum_over_terms(subject).numbers["measured denominator (grad of sum / grad of mean)"][0] \
        == pytest.approx(n_terms)


def test_check_3_counts_elementwise_terms_class_weights_and_skips_a_sum():
    g = generator(5)
    mse = replace(references.mlp(), targets=torch.randn(N, CLASSES, generator=g), loss=nn.MSELoss())
    result = checks.mean_is_sum_over_terms(mse)
    assert result.verdict == "pass" and result.numbers["expected denominator (loss terms)"][0] == N * CLASSES
    weights = torch.tensor([1.0, 2.0, 0.5, 3.0])
    weighted = replace(references.mlp(), loss=nn.CrossEntropyLoss(weight=weights))
    result = checks.mean_is_sum_over_terms(weighted)
    assert result.verdict == "pass", result.message
    expected = weights[weighted.targets].sum().item()  # CrossEntropyLoss's mean divides by sum_i w[y_i]
    assert result.numbers["expected denominator (loss terms)"][0] == pytest.approx(expected)
    summed = replace(references.mlp(), loss=nn.CrossEntropyLoss(reduction="sum"))
    assert checks.mean_is_sum_over_terms(summed).verdict == "n/a"
    ctc = checks.mean_is_sum_over_terms(replace(references.mlp(), loss=nn.CTCLoss()))  # 'mean' per target length
    assert ctc.verdict == "n/a" and "target length" in ctc.message


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")  # PyTorch says so too
def test_check_3_wants_batchmean_for_kl_divergence():
    class LogProbs(nn.Sequential):  # KLDivLoss takes log-probabilities
        def forward(self, x):
            return torch.log_softmax(super().forward(x), dim=1)

    base = references.mlp()
    targets = torch.softmax(torch.randn(N, CLASSES, generator=generator(8)), dim=1)
    subject = replace(base, model=LogProbs(*base.model), targets=targets)
    mean = checks.mean_is_sum_over_terms(replace(subject, loss=nn.KLDivLoss(reduction="mean")))
    assert mean.verdict == "fail" and f"divides the sum by {N * CLASSES}" in mean.message
    assert "use reduction='batchmean'" in mean.message
    batchmean = checks.mean_is_sum_over_terms(replace(subject, loss=nn.KLDivLoss(reduction="batchmean")))
    assert batchmean.verdict == "pass", batchmean.message


def test_live_terms_keep_hinge_zeros_and_drop_masked_entries():
    out = torch.tensor([[3.0], [0.2], [-4.0]])
    y = torch.tensor([[1.0], [1.0], [-1.0]])
    hinge = lambda o, t: torch.relu(1 - o * t)
    assert checks.live_terms(hinge, out, y).all()
    masked = lambda o, t: (o - t) ** 2 * torch.tensor([[1.0], [0.0], [1.0]])
    assert checks.live_terms(masked, out, y).reshape(-1).tolist() == [True, False, True]


# ================================================================ 4 and 5. samples mixed by a reshape
T_STEPS, SEQ_FEATURES, HIDDEN = 3, 4, 5


class TimeMajorHead(nn.Module):
    """Features per time step computed time-major (T, N, H), then flattened per sample for a linear read-out.
    ``buggy`` reshapes the (T, N, H) tensor to (N, T*H) as if it were batch-major: same shape, samples mixed."""

    def __init__(self, buggy: bool):
        super().__init__()
        self.buggy = buggy
        self.proj = nn.Linear(SEQ_FEATURES, HIDDEN)
        self.head = nn.Linear(T_STEPS * HIDDEN, CLASSES)

    def forward(self, x):  # x: (N, T, F)
        h = torch.tanh(self.proj(x.transpose(0, 1)))  # (T, N, H)
        flat = h.reshape(x.shape[0], -1) if self.buggy else h.transpose(0, 1).reshape(x.shape[0], -1)
        return self.head(flat)


def _sequence_subject(buggy: bool) -> ModelUnderTest:
    g = generator(6)
    return replace(references.mlp(), model=_seeded(lambda: TimeMajorHead(buggy)),
                   inputs=torch.randn(N, T_STEPS, SEQ_FEATURES, generator=g))


def test_check_4_names_the_pairs_a_reshape_mixes():
    result = checks.samples_are_independent(_sequence_subject(buggy=True))
    assert result.verdict == "fail"
    assert "in eval mode the output of sample i depends on the input of sample j" in result.message
    assert "(0, 1)" in result.message  # row 0 of the (N, T*H) view holds time steps of samples 0, 1, 2...
    assert result.numbers["coupled pairs in eval mode"][0] > 0
    assert checks.samples_are_independent(_sequence_subject(buggy=False)).verdict == "pass"


def test_check_4_explains_train_mode_coupling_by_batchnorm_and_fails_without_it():
    bn = checks.samples_are_independent(references.cnn_batchnorm())
    assert bn.verdict == "pass" and "BatchNorm's batch statistics couple them" in bn.message
    assert bn.numbers["coupled pairs in train mode"][0] == bn.numbers["pairs charted"][0]

    class TrainModeCentering(nn.Module):  # subtracts the batch mean in train mode only, with no BatchNorm
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(FEATURES, CLASSES)

        def forward(self, x):
            h = self.lin(x)
            return h - h.mean(dim=0, keepdim=True) if self.training else h

    result = checks.samples_are_independent(_mlp_subject(_seeded(TrainModeCentering)))
    assert result.verdict == "fail" and "no BatchNorm layer explains it" in result.message


def test_check_5_catches_the_reshape_and_a_model_that_cannot_run_one_sample():
    result = checks.per_sample_gradients_add_up(_sequence_subject(buggy=True))
    assert result.verdict == "fail" and "do not add up" in result.message and "proj.weight" in result.message
    assert checks.per_sample_gradients_add_up(_sequence_subject(buggy=False)).verdict == "pass"

    class Squeezes(nn.Module):  # squeeze() drops the batch dimension of a batch of one
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(FEATURES, CLASSES)

        def forward(self, x):
            return self.lin(x).squeeze()

    result = checks.per_sample_gradients_add_up(_mlp_subject(_seeded(Squeezes)))
    assert result.verdict == "fail" and "fails on a batch of one sample" in result.message


def test_check_5_falls_back_to_the_loop_where_vmap_cannot_run_the_model():
    result = checks.per_sample_gradients_add_up(references.lstm_padded())
    assert result.verdict == "pass" and "a loop of batches of one (vmap cannot run it" in result.message
    assert "(vmap)" in checks.per_sample_gradients_add_up(references.mlp()).message


class FaintlyCoupled(nn.Module):
    """out_i = lin(x_i + EPS * mean_j x_j): the samples are coupled, but by a relative 1e-9, far inside the float64
    tolerance of the per-sample check (rtol 1.7e-7 for 3 terms): it passes, with a non-zero difference."""

    EPS = 1e-9

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(FEATURES, CLASSES)

    def forward(self, x):
        return self.lin(x + self.EPS * x.mean(dim=0, keepdim=True))


class Float32Only(nn.Module):
    """A model with a part that runs in float32 only (as a custom kernel might): the checks fall back to float32."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(FEATURES, CLASSES)

    def forward(self, x):
        if x.dtype != torch.float32:
            raise TypeError(f"float32 only, got {x.dtype}")
        return self.lin(x)


def test_check_5_compares_in_float32_when_the_model_does_not_run_in_float64():
    result = checks.per_sample_gradients_add_up(_mlp_subject(_seeded(Float32Only)))
    assert result.verdict == "pass", result.message
    assert "compared in float32 (float64 failed: TypeError)" in result.message


def test_check_5_reports_the_largest_relative_difference_over_all_parameters_when_it_passes():
    subject = _mlp_subject(_seeded(FaintlyCoupled))
    result = checks.per_sample_gradients_add_up(subject)
    assert result.verdict == "pass", result.message
    # the same figure by hand: per-sample gradients by one backward per sample, the batch gradient by one backward,
    # max |sum - batch| / max |batch| over the parameters (the samples checks.PER_SAMPLE_MAX compares, float64)
    s = subject.copy().double()
    model, k = s.model.eval(), checks.PER_SAMPLE_MAX
    x, y = s.inputs[:k], s.targets[:k]
    params = list(model.parameters())
    loss_sum = nn.CrossEntropyLoss(reduction="sum")
    per = [torch.autograd.grad(loss_sum(model(x[i:i + 1]), y[i:i + 1]), params) for i in range(k)]
    batch = torch.autograd.grad(loss_sum(model(x), y), params)
    want = max(((sum(g[j] for g in per) - b).abs().max() / b.abs().max()).item() for j, b in enumerate(batch))
    got = result.numbers["largest relative difference"][0]
    assert want > 1e-12  # the coupling shows (float64 rounding alone is ~1e-16)
    assert got == pytest.approx(want, rel=1e-3)  # the difference itself carries float64 rounding of ~1e-16 / 1e-9


@pytest.mark.parametrize(("first", "last", "want"), [
    (2.0, 0.5, 4.0), (2.0, 0.0, math.inf),  # inf only when the final loss is exactly 0
    (2.0, math.nan, math.nan), (2.0, math.inf, math.nan), (math.inf, 1.0, math.nan),  # a diverged run
    (0.0, 0.0, math.nan), (2.0, -1.0, math.nan),  # no ratio with a zero start or a negative end
])
def test_check_9_loss_fell_by(first, last, want):
    got = checks._fell_by(first, last)
    assert got == want or (math.isnan(got) and math.isnan(want))


def test_check_9_a_diverging_run_fell_by_nan_not_inf():
    subject = _mlp_subject(_seeded(lambda: DeadReLUs(0.0)), optimizer=lambda p: torch.optim.SGD(p, lr=1e30))
    result = checks.can_overfit_one_batch(subject)
    assert result.verdict == "fail" and "the loss became nan" in result.message
    assert math.isnan(result.numbers["loss fell by"][0])


def test_the_checks_return_only_the_curves_their_spec_modules_draw():
    # spec/part6_your_model/test_gradient_norms_at_init.py and test_can_overfit_one_batch.py plot these, and no other
    eight = checks.gradient_norms_at_init(references.mlp())
    assert set(eight.curves) == {"gradient norm at each layer's output", "gradient norm of each layer's parameters",
                                 "fitted trend"}
    assert set(checks.can_overfit_one_batch(references.mlp()).curves) == {"loss / loss at step 0",
                                                                         "accuracy on the batch"}


# ================================================================ 6. an over-confident init
def test_check_6_catches_an_over_confident_init():
    subject = references.mlp()
    with torch.no_grad():
        subject.model[-1].weight.mul_(30)
        subject.model[-1].bias.mul_(30)
    result = checks.loss_at_init_is_near_log_c(subject)
    assert result.verdict == "fail" and "confidently wrong" in result.message
    assert result.numbers["loss at init / uniform-prediction loss"][0] > checks.INIT_LOSS_LIMIT
    healthy = checks.loss_at_init_is_near_log_c(references.mlp())
    assert healthy.verdict == "pass"
    # a uniform prediction costs ln C: the baseline equals ln 4 for the reference's CrossEntropyLoss
    assert healthy.numbers["loss of a uniform prediction"][0] == pytest.approx(math.log(CLASSES))
    regression = replace(references.mlp(), targets=torch.randn(N, CLASSES), loss=nn.MSELoss())
    assert checks.loss_at_init_is_near_log_c(regression).verdict == "n/a"


# ================================================================ 7. a softmax before CrossEntropyLoss
def _with_last(layer: nn.Module, **fields) -> ModelUnderTest:
    subject = references.mlp()
    return replace(subject, model=nn.Sequential(subject.model, layer), **fields)


def test_check_7_catches_a_softmax_before_cross_entropy():
    result = checks.no_softmax_before_cross_entropy(_with_last(nn.Softmax(dim=1)))
    assert result.verdict == "fail" and "outputs are probabilities" in result.message
    # the floor log(1 + (C-1)/e) from the margin formula of loss.measures-error, and the model does stall there
    floor = math.log1p((CLASSES - 1) / math.e)
    assert result.numbers["lowest reachable loss"][0] == pytest.approx(floor)
    logits = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # margin 1, the most a probability row allows
    assert F.cross_entropy(logits, torch.tensor([0])).item() == pytest.approx(floor)
    log_softmax = checks.no_softmax_before_cross_entropy(_with_last(nn.LogSoftmax(dim=1)))
    assert log_softmax.verdict == "pass" and "harmless" in log_softmax.message
    nll_on_logits = checks.no_softmax_before_cross_entropy(replace(references.mlp(), loss=nn.NLLLoss()))
    assert nll_on_logits.verdict == "fail" and "NLLLoss takes log-probabilities" in nll_on_logits.message
    nll = checks.no_softmax_before_cross_entropy(_with_last(nn.LogSoftmax(dim=1), loss=nn.NLLLoss()))
    assert nll.verdict == "pass"


# ================================================================ 8. an exploding init; healthy architectures pass
DEPTH, WIDTH = 8, 32


def _relu_mlp(depth: int, std: float | None) -> nn.Sequential:
    def build():
        layers: list[nn.Module] = []
        for i in range(depth):
            lin = nn.Linear(FEATURES if i == 0 else WIDTH, WIDTH if i < depth - 1 else CLASSES)
            if std is not None:
                nn.init.normal_(lin.weight, 0.0, std)
                nn.init.zeros_(lin.bias)
            layers += [lin, nn.ReLU()] if i < depth - 1 else [lin]
        return nn.Sequential(*layers)
    return _seeded(build)


def test_check_8_catches_an_exploding_init_and_passes_the_he_init():
    # at 4x the He std each ReLU layer multiplies the backward signal by about 4 (explosion.cause.init):
    # over 7 layer-to-layer steps that is 4^7 = 16384, far beyond the 1000 the check allows
    result = checks.gradient_norms_at_init(_mlp_subject(_relu_mlp(DEPTH, 4 * he_std(WIDTH))))
    assert result.verdict == "fail" and "gradients explode with depth" in result.message
    per_layer = result.numbers["trend: factor per layer toward the input"][0]
    assert 2.5 < per_layer < 6  # about the predicted 4 (finite width and one batch: a spread around it)
    he = checks.gradient_norms_at_init(_mlp_subject(_relu_mlp(DEPTH, he_std(WIDTH))))
    assert he.verdict == "pass", he.message


def test_check_8_flags_vanishing_gradients_of_a_deep_mlp_at_pytorch_default_init():
    # nn.Linear's default init draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1/(3 fan_in), so a ReLU layer
    # passes back sqrt(1/3 * 1/2) = 0.41 of the signal; over 15 steps 0.41^15 = 1.5e-6, far below 1/1000
    result = checks.gradient_norms_at_init(_mlp_subject(_relu_mlp(16, None)))
    assert result.verdict == "fail" and "gradients vanish with depth" in result.message
    assert 0.3 < result.numbers["trend: factor per layer toward the input"][0] < 0.55


class _Encoder(nn.Module):
    def __init__(self, layers: int, norm_first: bool):
        super().__init__()
        self.embed = nn.Embedding(references.VOCAB, 32)
        block = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


class _Recurrent(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.embed = nn.Embedding(references.VOCAB, 16)
        self.rnn = getattr(nn, kind)(16, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, tokens):
        return self.head(self.rnn(self.embed(tokens))[0][:, -1])


def _healthy():
    from examples.resnet18_like import make

    tokens = torch.randint(1, references.VOCAB, (N, 20), generator=generator(7))
    yield "resnet18-like (width 8)", ModelUnderTest(**make(width=8))
    for layers, first in ((6, False), (6, True)):
        encoder = _seeded(lambda layers=layers, first=first: _Encoder(layers, first))
        yield f"transformer, {layers} layers, norm_first={first}", _token_subject(encoder)
    for kind in ("LSTM", "GRU"):
        recurrent = _seeded(lambda kind=kind: _Recurrent(kind))
        yield f"{kind}, 2 layers over 20 steps", _token_subject(recurrent, inputs=tokens)


def test_check_8_passes_healthy_architectures_at_default_init():
    for name, subject in _healthy():
        result = checks.gradient_norms_at_init(subject)
        assert result.verdict == "pass", f"{name}: {result.message}"
        spread = result.numbers["trend: gradient at first layer / at last layer"][0]
        # well inside the 1000x either way: the threshold is not tuned to these nets
        assert 1 / 300 < spread < 300, f"{name}: {spread}"


# ================================================================ 9. a model that cannot fit
class DeadReLUs(nn.Module):
    """Every hidden ReLU is dead at init (bias -10, far below any pre-activation): the head sees zeros, the logits
    are the same for every sample and nothing but the head's bias can learn."""

    def __init__(self, bias: float):
        super().__init__()
        self.body, self.head = nn.Linear(FEATURES, 32), nn.Linear(32, CLASSES)
        nn.init.constant_(self.body.bias, bias)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def test_check_9_catches_a_model_that_cannot_fit_one_batch():
    subject = _mlp_subject(_seeded(lambda: DeadReLUs(-10.0)))
    result = checks.can_overfit_one_batch(subject)
    assert result.verdict == "fail" and "does not fit one batch" in result.message
    assert result.numbers["steps"][0] == checks.OVERFIT_MAX_STEPS - 1
    # constant logits predict one class for all: accuracy at most the largest class share, and the loss cannot
    # fall below the entropy of the batch's labels (the best constant prediction is their frequencies)
    counts = torch.bincount(subject.targets, minlength=CLASSES).double()
    share = counts / counts.sum()
    entropy = -(share[share > 0] * share[share > 0].log()).sum().item()
    assert result.numbers["final accuracy"][0] <= share.max().item()
    assert result.numbers["final loss"][0] >= entropy * (1 - 1e-3)  # float32 loss, a little under the floor at most
    fixed = checks.can_overfit_one_batch(_mlp_subject(_seeded(lambda: DeadReLUs(0.0))))
    assert fixed.verdict == "pass", fixed.message
    assert len(fixed.curves["loss / loss at step 0"][0]) <= checks.OVERFIT_MAX_STEPS


# ================================================================ load_subject: bad input is one clear error
FACTORY_SRC = """
import torch
from torch import nn

def _batch(n=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randint(0, 2, (n,), generator=g)

def make():
    x, y = _batch()
    return {"model": nn.Linear(3, 2), "inputs": x, "targets": y, "loss": nn.CrossEntropyLoss(), "name": "tiny"}

class Made:
    def __init__(self):
        self.model = nn.Linear(3, 2)
        self.inputs, self.targets = _batch()
        self.loss = nn.CrossEntropyLoss()

def as_object():
    return Made()

def raises():
    raise ValueError("no data here")

not_callable = 3
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(textwrap.dedent(FACTORY_SRC), encoding="utf-8")
    (tmp_path / "broken_import.py").write_text("import torch\nraise RuntimeError('module-level bug')\n",
                                               encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_models

    yield user_models


def test_load_subject_accepts_a_dict_or_an_object(factories):
    subject = load_subject("user_models:make")
    assert subject.name == "tiny" and subject.batch_size == 4 and subject.frozen == ()
    assert load_subject("user_models:as_object").name == "user_models"  # the module's name by default


def _reported_units() -> dict[str, list[str]]:
    """{unit: [number names]} of every number the checks can report, read from the source of checks.py (every
    branch, failing ones included): the tuples (value, "unit") stored under a name of NUMBER_NAMES_ZH."""
    units: dict[str, list[str]] = {}
    tree = ast.parse(Path(checks.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            pairs = [(node.targets[0].slice, node.value)]
        else:
            continue
        for key, value in pairs:
            if (isinstance(key, ast.Constant) and key.value in checks.NUMBER_NAMES_ZH and isinstance(value, ast.Tuple)
                    and len(value.elts) == 2):
                unit = value.elts[1]
                assert isinstance(unit, ast.Constant) and isinstance(unit.value, str), f"{key.value}: a literal unit"
                units.setdefault(unit.value, []).append(key.value)
    return units


def test_every_unit_the_checks_report_has_a_chinese_entry():
    from support.report.text import UNITS_ZH

    units = _reported_units()
    # what the checks count or measure in: tensors, loss units, logit units, "x" for a factor, ...
    assert {"tensors", "loss units", "logit units", "1 = all", "classes", "x"} <= set(units)
    missing = {u: names for u, names in units.items() if u != "1" and u not in UNITS_ZH}
    assert not missing, f"units without a Chinese entry in support.report.text.UNITS_ZH: {missing}"


def test_record_check_refuses_a_unit_without_a_chinese_entry(user_project):
    (user_project.path / "other").mkdir()
    (user_project.path / "other" / "test_units.py").write_text(textwrap.dedent("""
        from support.model_check.checks import CheckResult

        def test_known_unit(figures, record_check):
            record_check(CheckResult("c", (), "pass", "ok", {"steps": (3, "steps")}), figures)

        def test_unknown_unit(figures, record_check):
            record_check(CheckResult("c", (), "pass", "ok", {"steps": (3, "furlongs")}), figures)
    """), encoding="utf-8")
    result = user_project.runpytest_inprocess("other", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*KeyError: \"check 'c': number 'steps' has unit 'furlongs', which has no Chinese "
                                 "entry in support.report.text.UNITS_ZH\"*"])


@pytest.mark.parametrize(("spec", "message"), [
    ("user_models", "expected PACKAGE.MODULE:FACTORY"),
    ("user_models:make:x", "expected PACKAGE.MODULE:FACTORY"),
    ("no_such_module:make", "cannot import module 'no_such_module': No module named 'no_such_module'"),
    ("broken_import:make", "importing 'broken_import' failed: RuntimeError: module-level bug (at "),
    ("user_models:mkae", "'user_models' has no attribute 'mkae'; did you mean 'make'?"),
    ("user_models:not_callable", "user_models:not_callable is a int, not a callable factory"),
    ("user_models:raises", "the factory user_models:raises raised ValueError: no data here (at "),
])
def test_load_subject_names_what_is_wrong_with_the_spec(factories, spec, message):
    with pytest.raises(SpecInputError) as info:
        load_subject(spec)
    assert message in str(info.value)


def _fields(factories, **changes):
    fields = factories.make()
    fields.update(changes)
    return fields


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "a model"}, "model must be a torch.nn.Module, got str"),
    ({"inputs": [1, 2]}, "inputs[0] is a int, not a tensor"),
    ({"inputs": torch.tensor(1.0)}, "every tensor must be batch-first"),
    ({"targets": [0, 1]}, "targets must be a batch-first tensor, got list"),
    ({"targets": torch.tensor([0, 1, 1])}, "inputs and targets must have the same batch size"),
    ({"loss": "ce"}, "loss must be a torch.nn loss module or a callable, got str"),
    ({"loss": lambda out, y: out.sum()}, "takes no `reduction` argument"),
    ({"loss": nn.Softmax(dim=1)}, "loss is a Softmax without a `reduction` attribute"),
    ({"optimizer": "sgd"}, "optimizer must be a callable params -> torch.optim.Optimizer"),
    ({"n_classes": 1}, "n_classes must be an int >= 2, got 1"),
    ({"n_classes": 3}, "n_classes is 3, but the model's output has 2 classes along dim 1 (shape (4, 2)) for "
                       "CrossEntropyLoss"),
    ({"frozen": "weight"}, "frozen must be a list of parameter names"),
    ({"frozen": ["wieght"]}, "frozen names 'wieght', which is not a parameter of the model; did you mean 'weight'?"),
    ({"name": ""}, "name must be a non-empty string"),
])
def test_validate_names_the_wrong_field(factories, changes, message):
    with pytest.raises(SpecInputError) as info:
        validate(ModelUnderTest(**_fields(factories, **changes)))
    assert message in str(info.value)


def test_mapping_fields_must_be_known_and_complete(factories, monkeypatch):
    original = factories.make
    monkeypatch.setattr(factories, "make", lambda: {"model": nn.Linear(3, 2), "inputs": torch.randn(4, 3)})
    with pytest.raises(SpecInputError, match="returned a dict without targets, loss"):
        load_subject("user_models:make")
    monkeypatch.setattr(factories, "make", lambda: dict(original(), lr=0.1))
    with pytest.raises(SpecInputError, match=r"returned unknown field\(s\) \['lr'\]"):
        load_subject("user_models:make")
    monkeypatch.setattr(factories, "make", lambda: [1, 2])
    with pytest.raises(SpecInputError, match="returned a list without model, inputs, targets, loss"):
        load_subject("user_models:make")


def test_a_batch_of_one_is_rejected(factories):
    x, y = factories._batch(1)
    with pytest.raises(SpecInputError, match="the batch has 1 sample"):
        validate(ModelUnderTest(**_fields(factories, inputs=x, targets=y)))


def test_a_forward_or_loss_that_fails_is_reported_once_with_its_error(factories):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 2)  # expects 5 features, the batch has 3

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(SpecInputError) as info:
        validate(ModelUnderTest(**_fields(factories, model=Broken())))
    text = str(info.value)
    assert "the model's forward fails on the batch: RuntimeError: mat1 and mat2 shapes cannot be multiplied" in text
    assert text.count("RuntimeError") == 1 and info.value.__cause__ is None  # one message, no chained traceback

    class Tuple(nn.Linear):
        def forward(self, x):
            return super().forward(x), None

    with pytest.raises(SpecInputError, match="must return one tensor .* got tuple"):
        validate(ModelUnderTest(**_fields(factories, model=Tuple(3, 2))))
    with pytest.raises(SpecInputError, match="the loss fails on the model's output"):
        validate(ModelUnderTest(**_fields(factories, targets=torch.zeros(4, 7))))
    # without run_forward the model is not called
    validate(ModelUnderTest(**_fields(factories, model=Broken())), run_forward=False)


def test_the_subject_runs_tuple_and_dict_inputs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(FEATURES, CLASSES)

        def forward(self, x, scale):
            return self.lin(x) * scale[:, None]

    base = references.mlp()
    scale = torch.linspace(0.5, 1.5, N)
    for inputs in ((base.inputs, scale), {"x": base.inputs, "scale": scale}):
        subject = validate(replace(base, model=_seeded(TwoInputs), inputs=inputs))
        for check, fn in checks.CHECKS.items():
            result = fn(subject.copy())
            assert result.verdict == "pass", f"{type(inputs).__name__}: {check}: {result.message}"


# ================================================================ --model end to end (pytester)
PART6 = Path(__file__).resolve().parent.parent / "spec" / "part6_your_model"
USER_MODULE = """
import torch
from torch import nn

def _fields(model):
    g = torch.Generator().manual_seed(0)
    return {"model": model, "inputs": torch.randn(6, 5, generator=g), "targets": torch.randint(0, 3, (6,), generator=g),
            "loss": nn.CrossEntropyLoss(), "optimizer": lambda p: torch.optim.Adam(p, lr=3e-2)}

def make():
    torch.manual_seed(0)
    return dict(_fields(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))), name="mine")

def with_softmax():
    torch.manual_seed(0)
    return dict(_fields(nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=1))),
                name="softmaxed")

def one_sample():
    fields = make()
    return dict(fields, inputs=fields["inputs"][:1], targets=fields["targets"][:1])

def raises():
    raise KeyError("dataset path")

def bad_forward():
    return dict(make(), model=nn.Linear(7, 3))  # the batch has 5 features
"""


@pytest.fixture(scope="module")
def _optimizer_step_imported():
    """An optimizer step imports torch._dynamo on first use. Done inside an in-process run, or after pytester took
    its snapshot of sys.modules, those modules are dropped afterwards and the next run registers their operators
    twice (a RuntimeError): import them once, before any pytester fixture (a module-scoped fixture comes first)."""
    warm = torch.zeros(1, requires_grad=True)
    warm.grad = torch.ones(1)
    torch.optim.Adam([warm], lr=0.1).step()


@pytest.fixture
def user_project(_optimizer_step_imported, pytester: pytest.Pytester, request: pytest.FixtureRequest):
    """A project with the suite's plugin and registry, part 6 of the spec and a user module with factories."""
    with spec_project(pytester, request, None) as project:
        target = project.path / "spec" / "part6_your_model"
        target.mkdir()
        for path in PART6.glob("*.py"):
            (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        project.makepyfile(user_model=USER_MODULE)
        yield project


def test_model_option_runs_every_check_on_the_user_model(user_project):
    result = user_project.runpytest_inprocess("--model=user_model:make", "--device=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(checks.CHECKS))
    result.stdout.fnmatch_lines([
        "model under test: mine (user_model:make; Sequential, 147 parameters, batch of 6)",
        "*your model: mine*",
        "PASS  every trainable parameter gets a finite gradient from one batch backward",
    ])


def test_a_failing_check_says_what_is_wrong_once(user_project, monkeypatch):
    monkeypatch.setenv("SPEC_MODEL", "user_model:with_softmax")  # the environment variable works like --model
    result = user_project.runpytest_inprocess("--device=cpu", "-p", "no:cacheprovider")
    # the softmax check fails, and so does overfitting: the loss cannot fall below log(1 + (C-1)/e)
    result.assert_outcomes(passed=len(checks.CHECKS) - 2, failed=2)
    out = result.stdout.str()
    assert out.count("_ test_the_model_returns_logits_to_cross_entropy[softmaxed-cpu] _") == 1
    # counted on pytest's "E   " explanation lines: the short summary repeats the message as far as the terminal
    # is wide (COLUMNS), so a count over the whole output would depend on the terminal
    explained = [line for line in out.splitlines()
                 if line.startswith("E ") and "the model's outputs are probabilities (every row" in line]
    assert len(explained) == 1, explained
    result.stdout.fnmatch_lines(["*your model: softmaxed*"])
    result.stdout.fnmatch_lines(["FAIL  no softmax before CrossEntropyLoss"])
    result.stdout.fnmatch_lines(["FAIL  the model can overfit one batch"])
    # the reproducer names the model (the node id [softmaxed-cpu] exists only with it) and the device
    result.stdout.fnmatch_lines(["pytest '*test_the_model_returns_logits_to_cross_entropy[[]softmaxed-cpu[]]' * "
                                 "--device=cpu --model=user_model:with_softmax"])


@pytest.mark.parametrize(("spec", "message"), [
    ("user_model", "expected PACKAGE.MODULE:FACTORY"),
    ("no_module_here:make", "cannot import module 'no_module_here'"),
    ("user_model:maek", "'user_model' has no attribute 'maek'; did you mean 'make'?"),
    ("user_model:raises", "the factory user_model:raises raised KeyError: 'dataset path'"),
    ("user_model:one_sample", "the batch has 1 sample(s); the checks need at least 2"),
    ("user_model:bad_forward", "the model's forward fails on the batch: RuntimeError: mat1 and mat2 shapes cannot be "
                               "multiplied (6x5 and 7x3)"),
])
def test_bad_model_options_are_one_usage_error(user_project, spec, message):
    result = user_project.runpytest_inprocess(f"--model={spec}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"ERROR: --model={spec}: " in err and message in err
    assert err.count("ERROR:") == 1


def test_under_xdist_a_bad_model_stops_the_run_once_before_any_worker_starts(user_project):
    result = user_project.runpytest_subprocess("-n", "2", "--model=user_model:raises", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("raised KeyError: 'dataset path'") == 1


def test_the_claims_report_gains_a_your_model_section(user_project):
    result = user_project.runpytest_inprocess("--model=user_model:with_softmax", "--device=cpu", "-p",
                                              "no:cacheprovider", "--claims-report=report")
    result.assert_outcomes(passed=len(checks.CHECKS) - 2, failed=2)
    assert "FAILING CLAIM" not in result.stdout.str()  # a model's failure is not the claim's
    readme = (user_project.path / "report" / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your model"):]
    assert "- Models checked: `softmaxed`" in section and "reference models" not in section
    assert "| no softmax before CrossEntropyLoss | FAIL |" in section
    assert "the model's outputs are probabilities" in section
    assert "![gradient norms per layer at init: softmaxed](figures/" in section
    assert "![overfitting one batch: softmaxed](figures/" in section


# ================================================================ the part-6 modules follow their format
def _part6_modules():
    for path in sorted(PART6.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        marks = {d.args[0].value for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                 for d in node.decorator_list
                 if isinstance(d, ast.Call) and getattr(d.func, "attr", None) == "claim"}
        yield path, ast.get_docstring(tree) or "", marks, tree


def test_each_check_module_says_what_it_checks_and_which_claims_it_applies():
    from support.claims import REGISTRY
    from support.report.text import CHECK_ORDER

    ids = []
    for path, doc, marks, tree in _part6_modules():
        assert doc.startswith("check: "), f"{path.name}: the docstring starts with 'check: <what it checks>'"
        applies = next((p for p in doc.split("\n\n") if p.startswith("Applies: ")), "")
        named = {c for c in REGISTRY if re.search(rf"(?<![\w.-]){re.escape(c)}(?![\w-])", applies)}
        assert marks and named == marks, f"{path.name}: 'Applies:' names {sorted(named)}, tests mark {sorted(marks)}"
        assert not any(getattr(t, "id", None) == "pytestmark" for n in tree.body if isinstance(n, ast.Assign)
                       for t in n.targets), f"{path.name}: mark the tests, not the module"
        ids.append(path.stem.removeprefix("test_").replace("_", "-"))
    # one module per check, each in the report's order and in support.model_check.checks
    assert sorted(ids) == sorted(CHECK_ORDER) == sorted(checks.CHECKS)


def test_validation_runs_the_forward_on_a_copy_and_leaves_the_model_as_it_was():
    # a train-mode forward moves BatchNorm's running statistics: validating must not, or serial runs (which
    # validate in the test process) and xdist workers (which do not) would check different models
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    subject = validate(ModelUnderTest(model=model, inputs=torch.randn(6, 3), targets=torch.tensor([0, 1] * 3),
                                      loss=nn.CrossEntropyLoss()), run_forward=True)
    after = subject.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "validation changed the model's buffers"
    assert subject.model.training
