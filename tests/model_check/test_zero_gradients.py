"""Zero and tiny gradients (checks 1 and 2): judged by measurements on the model (support/model_check/checks/
_zero_gradients.py), never by their size next to the largest gradient or by a parameter's name.

Each of the first five tests is a false alarm the checks used to give on healthy models of other people (a gradient
"0 up to rounding" when it was small next to the model's largest entry): a layer-scale branch, a zero-initialised
residual branch, attention's key bias, a bias before a normalisation that nothing names. They failed before and pass
now; the dead unit and the hook that zeroes a gradient still fail.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from support.model_check.checks._zero_gradients import (
    DRAWS,
    SCREEN,
    Kind,
    candidates,
    diagnose,
    draws_of,
    random_forward,
    unused_in_every_draw,
)
from support.model_check.runner import run_check
from tests.model_check.models import CLASSES, FEATURES, _mlp_subject, _seeded, _token_subject

WIDTH = 32
OPTIMIZERS = {"sgd": lambda p: torch.optim.SGD(p, lr=1e-3), "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3)}


class LayerScaleNet(nn.Module):
    """x + gamma * branch(x), gamma initialised to 1e-6 (ConvNeXt's layer scale): the branch's gradients are ~1e-6
    of the residual path's, real but tiny."""

    def __init__(self, init: float = 1e-6):
        super().__init__()
        self.stem = nn.Linear(FEATURES, WIDTH)
        self.branch = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.GELU(), nn.Linear(WIDTH, WIDTH))
        self.gamma = nn.Parameter(torch.full((WIDTH,), init))
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        h = self.stem(x)
        return self.head(h + self.gamma * self.branch(h))


class ZeroInitResidual(nn.Module):
    """x + norm(fc2(relu(norm1(fc1(x))))) with the last norm's weight at 0 (timm's zero_init_last): fc1, norm1 and
    fc2 get exactly zero gradient at init and a real one after one step."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(FEATURES, WIDTH)
        self.fc1, self.norm1 = nn.Linear(WIDTH, WIDTH, bias=False), nn.BatchNorm1d(WIDTH)
        self.fc2, self.norm2 = nn.Linear(WIDTH, WIDTH, bias=False), nn.BatchNorm1d(WIDTH)
        nn.init.zeros_(self.norm2.weight)
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        return self.head(h + self.norm2(self.fc2(torch.relu(self.norm1(self.fc1(h))))))


class BiasThenNorm(nn.Module):
    """Linear(bias=True) -> BatchNorm1d: in train mode BatchNorm subtracts each channel's batch mean, so the bias has no
    effect and a true gradient of 0; backward leaves rounding (~1e-8 in float32). ``rewrap`` adds 0 in between, so
    that no structure names the cause: the measurement alone must judge it."""

    def __init__(self, rewrap: bool = False):
        super().__init__()
        self.rewrap = rewrap
        self.lin, self.norm, self.head = nn.Linear(FEATURES, WIDTH), nn.BatchNorm1d(WIDTH), nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        h = self.lin(x)
        return self.head(torch.relu(self.norm(h + 0.0 if self.rewrap else h)))


class AttentionClassifier(nn.Module):
    """Single-head self-attention with separate q, k, v projections (as BERT's): the key bias adds q . b_k to every
    score of a query, which softmax ignores, so the loss does not depend on it."""

    def __init__(self, vocab: int = 12, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.head = nn.Linear(dim, CLASSES)

    def forward(self, tokens):
        h = self.embed(tokens)
        scores = self.q(h) @ self.k(h).transpose(1, 2) / h.shape[-1] ** 0.5
        return self.head((scores.softmax(dim=-1) @ self.v(h)).mean(dim=1))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_layer_scale_branch_learns_although_its_gradients_are_tiny(optimizer):
    subject = _mlp_subject(_seeded(LayerScaleNet), optimizer=OPTIMIZERS[optimizer])
    branch = subject.copy()
    branch.model.train()
    branch.loss(branch.forward(), branch.targets).backward()
    tiny = branch.model.branch[0].weight.grad.abs().max().item()
    largest = max(p.grad.abs().max().item() for p in branch.model.parameters())
    assert tiny < SCREEN * torch.finfo(torch.float32).eps * largest  # the old rule called this 0 up to rounding
    one = run_check("every-parameter-gets-a-gradient", subject)
    assert one.outcome.value == "pass" and one.note is None, one.message.en
    two = run_check("one-step-updates-parameters", subject)
    assert two.outcome.value == "pass", two.message.en
    if optimizer == "sgd":  # lr 1e-3 x a 1e-9 gradient is below half an ulp of the weights: a later step moves it
        assert "first update of" in two.note.en and "branch.2.weight (from step" in two.note.en


def test_a_zero_initialised_residual_branch_has_a_zero_gradient_at_init_only():
    subject = _mlp_subject(_seeded(ZeroInitResidual), optimizer=OPTIMIZERS["sgd"])
    blocked = ["fc1.weight", "norm1.weight", "norm1.bias", "fc2.weight"]
    for check in ("every-parameter-gets-a-gradient", "one-step-updates-parameters"):
        result = run_check(check, subject)
        assert result.outcome.value == "pass", f"{check}: {result.message.en}"
        assert "a zero gradient at init only" in result.note.en and ", ".join(blocked) in result.note.en
        assert result.numbers["parameters with zero gradient at init only"] == (len(blocked), "tensors")


def test_attention_s_key_bias_is_a_parameter_the_loss_does_not_depend_on():
    subject = _token_subject(_seeded(AttentionClassifier))
    for check in ("every-parameter-gets-a-gradient", "one-step-updates-parameters"):
        result = run_check(check, subject)
        assert result.outcome.value == "pass", f"{check}: {result.message.en}"
        assert "the loss does not depend on 1 parameter(s)" in result.note.en and ": k.bias." in result.note.en
    found = diagnose(subject, _grads(subject), ["k.bias", "q.bias"], seed=0)
    assert found["k.bias"].kind is Kind.NO_EFFECT and "q.bias" not in found  # the query bias has a real gradient


@pytest.mark.parametrize("rewrap", [False, True])
def test_a_bias_before_batchnorm_gets_the_same_note_whatever_names_it(rewrap):
    subject = _mlp_subject(_seeded(lambda: BiasThenNorm(rewrap)), optimizer=OPTIMIZERS["sgd"])
    grads = _grads(subject)
    assert 0 < grads["lin.bias"].abs().max() < 1e-6  # rounding, not exactly 0
    for check in ("every-parameter-gets-a-gradient", "one-step-updates-parameters"):
        result = run_check(check, subject)
        assert result.outcome.value == "pass", f"{check}: {result.message.en}"
        assert ": lin.bias." in result.note.en and "bias=False" in result.note.en
        assert result.numbers["parameters the loss does not depend on"] == (1, "tensors")


def test_a_hook_that_zeroes_a_gradient_fails_unless_the_parameter_is_named_frozen():
    model = _seeded(LayerScaleNet)
    model.stem.weight.register_hook(torch.zeros_like)
    subject = _mlp_subject(model)
    result = run_check("every-parameter-gets-a-gradient", subject)
    assert result.outcome.value == "fail"
    assert "a hook on the tensor sets to 0" in result.message.en and "stem.weight (exactly 0;" in result.message.en
    assert "name them in `frozen`" in result.message.en
    named = _mlp_subject(model, frozen=("stem.weight",))
    assert run_check("every-parameter-gets-a-gradient", named).outcome.value == "pass"


def test_the_checks_put_the_model_back_and_keep_its_hooks():
    model = _seeded(ZeroInitResidual)
    calls = []
    model.stem.weight.register_hook(lambda g: calls.append(1))
    subject = _mlp_subject(model, optimizer=OPTIMIZERS["adamw"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    for check in ("every-parameter-gets-a-gradient", "one-step-updates-parameters", "can-overfit-one-batch"):
        assert run_check(check, subject).outcome.value == "pass"
    assert calls, "the hook on the model's own parameter ran: the checks used the model, not a copy"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "a check left the model changed"
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_candidates_are_zero_or_at_most_rounding_next_to_the_largest_entry():
    eps32 = torch.finfo(torch.float32).eps
    edge = SCREEN * eps32  # the screen of a model whose largest entry is 1
    grads = {
        "big": torch.tensor([1.0, -0.5]),
        "at": torch.tensor([edge, 0.0]),
        "above": torch.tensor([2 * edge]),
        "exact": torch.zeros(3),
        "none": None,
        "nan": torch.tensor([float("nan")]),
    }
    found, scale = candidates(grads)
    assert set(found) == {"at", "exact"} and scale == 1.0
    # each gradient against its own dtype's eps: a float64 entry at the float32 screen is far above its own
    assert candidates({"big": torch.tensor([1.0]), "f64": torch.tensor([edge], dtype=torch.float64)})[0] == {}


def _grads(subject) -> dict:
    s = subject.copy()
    s.model.train()
    s.loss(s.forward(), s.targets).backward()
    return {n: p.grad for n, p in s.model.named_parameters()}


class LayerDrop(nn.Module):
    """Each of two hidden layers is skipped at random in train mode (LayerDrop, p = 0.5): under one draw a skipped
    layer's parameters get no gradient at all, under another they do."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(FEATURES, WIDTH)
        self.layers = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(2))
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        for layer in self.layers:
            if self.training and torch.rand(()) < 0.5:
                continue
            h = h + torch.relu(layer(h))
        return self.head(h)


def test_a_layer_skipped_at_random_is_no_unused_parameter():
    # whichever layers the check's own draw skips, another draw uses them: the check passes, and says so when its
    # draw skipped one; a forward that draws random numbers is told by the generator it moves
    subject = _mlp_subject(_seeded(LayerDrop), optimizer=OPTIMIZERS["adamw"])
    assert random_forward(subject) and not random_forward(_mlp_subject(_seeded(LayerScaleNet)))
    for check in ("every-parameter-gets-a-gradient", "one-step-updates-parameters"):
        result = run_check(check, subject)
        assert result.outcome.value == "pass", f"{check}: {result.message.en}"
    names = [n for n, _ in subject.model.named_parameters()]
    used = unused_in_every_draw(subject, names, draws_of(subject, seed=0))
    assert used == []  # every parameter gets a gradient under some of the draws


def test_a_gradient_that_one_draw_makes_zero_is_not_called_zero():
    # dropout p = 0.9 before a branch of batch 2: some draw zeroes the branch for both samples, others do not
    class DroppedBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.branch = nn.Linear(FEATURES, WIDTH), nn.Linear(WIDTH, WIDTH)
            self.drop, self.head = nn.Dropout(0.9), nn.Linear(WIDTH, CLASSES)

        def forward(self, x):
            h = torch.relu(self.stem(x))
            return self.head(h + self.branch(self.drop(h)))

    subject = _mlp_subject(_seeded(DroppedBranch))
    subject = replace_batch(subject, 2)
    seeds = [s for s in range(200) if _branch_gradient_is_zero(subject, s)]
    assert seeds, "some draw zeroes the branch's gradient (0.9^64 per entry would make it rare: the batch is 2)"
    found = diagnose(subject, _grads_under(subject, seeds[0]), ["branch.weight"], seeds[0])
    assert found["branch.weight"].kind is Kind.LEARNS and found["branch.weight"].draws == DRAWS


def test_parameters_zero_on_both_sides_of_a_product_fail_as_stuck_together():
    class LoRA(nn.Module):  # frozen base plus B @ A with both zero-initialised: neither ever gets a gradient
        def __init__(self, b_zero_only: bool):
            super().__init__()
            self.base = nn.Linear(FEATURES, CLASSES).requires_grad_(False)
            self.A = nn.Parameter(torch.zeros(4, FEATURES) if not b_zero_only else torch.randn(4, FEATURES) * 0.1)
            self.B = nn.Parameter(torch.zeros(CLASSES, 4))
            self.head_bias = nn.Parameter(torch.zeros(CLASSES))

        def forward(self, x):
            return self.base(x) + x @ self.A.T @ self.B.T + self.head_bias

    broken = _mlp_subject(_seeded(lambda: LoRA(b_zero_only=False)))
    result = run_check("every-parameter-gets-a-gradient", broken)
    assert result.outcome.value == "fail" and "shifting them together moves the loss: A, B" in result.message.en
    assert "initialise one side randomly" in result.message.en
    healthy = _mlp_subject(_seeded(lambda: LoRA(b_zero_only=True)))  # LoRA's own init: B = 0, A random
    one = run_check("every-parameter-gets-a-gradient", healthy)
    assert one.outcome.value == "pass" and "a zero gradient at init only" in one.note.en and ": A" in one.note.en


def replace_batch(subject, n: int):
    from dataclasses import replace

    return replace(subject, inputs=subject.inputs[:n], targets=subject.targets[:n])


def _grads_under(subject, seed: int) -> dict:
    from support.model_check.checks._numerics import same_randomness

    s = subject.copy()
    s.model.train()
    with same_randomness(seed):
        s.loss(s.forward(), s.targets).backward()
    return {n: p.grad for n, p in s.model.named_parameters()}


def _branch_gradient_is_zero(subject, seed: int) -> bool:
    return not _grads_under(subject, seed)["branch.weight"].any()
