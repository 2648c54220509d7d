"""zero-grad.set-to-none

What is true (confirmed):
- zero_grad() of an optimizer or of a module sets every .grad to None by default (set_to_none=True), and a parameter
  that the next loss does not use keeps None after backward.
- zero_grad(set_to_none=False) fills the gradients with zeros instead, and such a parameter keeps its zeros after
  backward.
- optimizer.step() skips a parameter whose .grad is None (no weight decay, no momentum or moment update, its step count
  unchanged) but steps one whose .grad is zero.
- Weight decay moves a parameter with a zero gradient at its first step (SGD's and Adam's weight_decay, AdamW's
  decoupled decay, whose default weight_decay is 0.01); without weight decay a zero gradient moves nothing at a
  parameter's first step.
- After one real step, SGD with momentum, Adam and AdamW keep moving a parameter at every later step with a zero
  gradient, while a None gradient leaves the parameter and its optimizer state (momentum buffer or moment estimates,
  step count) as they were.
- Plain SGD without momentum or weight decay treats the two alike.
- An nn.Embedding row absent from a batch gets a zero row of the table's dense gradient, not None, so once a row has
  been used Adam keeps moving it in later batches that do not contain it; a row never used stays where it was.

Why: PyTorch docs, torch.optim.Optimizer.zero_grad: "set_to_none (bool, optional): Instead of setting to zero, set the
grads to None. Default: True"; "If the user requests zero_grad(set_to_none=True) followed by a backward pass, .grads are
guaranteed to be None for params that did not receive a gradient"; "torch.optim optimizers have a different behavior if
the gradient is 0 or None (in one case it does the step with a gradient of 0 and in the other it skips the step
altogether)". torch.nn.Module.zero_grad has the same default. PyTorch 2.0 release notes: the default of set_to_none
changed to True. The optimizers collect only the parameters with p.grad is not None (PyTorch source, torch/optim/sgd.py
and adam.py, _init_group). With a zero gradient the documented rules give: SGD, g = 0 + lambda p (weight decay), b = mu
b + g, p -= lr b; Adam, g = 0 + lambda p, m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2, p -= lr m^ /
(sqrt(v^) + eps), which at the first step with lambda = 0 is 0 / eps = 0 and after a real step is lr beta1^k m / ... !=
0; AdamW, p *= 1 - lr lambda before the same Adam step. So SGD's weight_decay and Adam's L2 decay act through the
gradient and AdamW's decoupled decay on the parameter directly, and without decay a zero gradient moves nothing at the
first step because SGD's momentum buffer starts as that first gradient, 0, and Adam's moments start at 0. The tests
compare every step taken with support.reference_optim's float64 implementation of those rules fed the same gradients
(real at step 1, zeros after), and check that the None parameter is bitwise unchanged, with its step count and momentum
buffer as they were. nn.Embedding with sparse=False (the default) has a dense gradient for its whole weight (PyTorch
docs, torch.nn.Embedding: sparse "If True, gradient w.r.t. weight matrix will be a sparse tensor"), so a row absent from
the batch gets zeros, which Adam steps by lr m^ / (sqrt(v^) + eps) once its moments hold a real gradient, and by exactly
0 while they are still 0. The learning rates are away from 1 and the runs take several steps.
"""

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.data import regression
from support.models import linear_model, mlp
from support.reference_optim import ReferenceAdam, ReferenceSGD
from support.tensors import generator, seeded_init
from support.tolerances import assert_close, override

pytestmark = pytest.mark.claim("zero-grad.set-to-none")
IN, WIDTH, OUT, N = 3, 5, 2, 8
STEPS = 5  # one real step, then four with a zero (or None) gradient
# Each step is the same few float64 operations in both implementations, in another order: a few ulps of the step
# (~1e-15 relative); read off as p_after - p_before it also carries the rounding of p (|p| < 2). 1e-12 relative is
# far finer than any change of the rule (momentum or decay change a step by O(mu) or O(lr lambda) relative).
STEP_TOL = override(rtol=1e-12, atol=1e-15, reason="float64 steps, same formula in a different operation order")

# optimizer, its arguments, the matching reference, and whether a zero gradient moves the parameter at its first step
CONFIGS = {
    "SGD": (torch.optim.SGD, dict(lr=0.05), "sgd", False),
    "SGD-momentum": (torch.optim.SGD, dict(lr=0.05, momentum=0.9), "sgd", False),
    "SGD-momentum-decay": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.1), "sgd", True),
    "Adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95)), "adam", False),
    "Adam-L2": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1), "adam", True),
    "AdamW": (torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1), "adamw", True),
}


def _reference(kind, kwargs):
    if kind == "sgd":
        return ReferenceSGD(**kwargs)
    return ReferenceAdam(decoupled_weight_decay=kind == "adamw", **kwargs)


def _pair(device):
    """Two identical parameters, each with its own optimizer: one will get zero gradients, the other None."""
    start = torch.linspace(-1.5, 1.2, 6, dtype=torch.float64, device=device).reshape(2, 3)
    return nn.Parameter(start.clone()), nn.Parameter(start.clone())


def test_zero_grad_sets_grads_to_none_by_default(device):
    model = mlp(IN, WIDTH, OUT, seed=51, device=device)
    unused = linear_model(2, 2, seed=51, device=device)  # parameters the loss never touches
    opt = torch.optim.SGD([*model.parameters(), *unused.parameters()], lr=0.05)
    x, y = regression(N, IN, OUT, seed=51, device=device)
    everything = [*model.parameters(), *unused.parameters()]
    for p in everything:  # every parameter holds a gradient before zero_grad
        p.grad = torch.ones_like(p)
    opt.zero_grad()
    assert all(p.grad is None for p in everything)
    F.mse_loss(model(x), y).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for p in unused.parameters())  # no gradient received: still None
    model.zero_grad()  # the module's default is the same
    assert all(p.grad is None for p in model.parameters())
    # set_to_none=False keeps tensors, filled with zeros, and the unused parameter keeps its zeros after backward
    for p in everything:
        p.grad = torch.ones_like(p)
    opt.zero_grad(set_to_none=False)
    F.mse_loss(model(x), y).backward()
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in unused.parameters())
    assert all(p.grad.abs().max() > 0 for p in model.parameters())
    # the defaults behind this claim, as signatures: set_to_none=True for both zero_grads, and AdamW decays by default
    for zero_grad in (torch.optim.Optimizer.zero_grad, nn.Module.zero_grad):
        assert inspect.signature(zero_grad).parameters["set_to_none"].default is True
    assert torch.optim.AdamW([nn.Parameter(torch.zeros(1))]).defaults["weight_decay"] == 0.01


@pytest.mark.parametrize("name", list(CONFIGS))
def test_at_the_first_step_weight_decay_moves_a_zero_gradient_and_skips_none(name, device):
    optimizer, kwargs, kind, moves = CONFIGS[name]
    zero_p, none_p = _pair(device)
    start = zero_p.detach().clone()
    opt_zero, opt_none = optimizer([zero_p], **kwargs), optimizer([none_p], **kwargs)
    zero_p.grad, none_p.grad = torch.zeros_like(zero_p), None
    expected = _reference(kind, kwargs).step([start], [torch.zeros_like(start)])[0] - start
    opt_zero.step()
    opt_none.step()
    assert torch.equal(none_p.detach(), start)  # skipped, bitwise
    assert opt_none.state[none_p] == {}  # and no state was created for it
    taken = zero_p.detach() - start
    assert_close(taken, expected, tol=STEP_TOL)
    if moves:  # weight decay: lr * lambda * |p| (SGD, AdamW: >= 0.05 * 0.1 * 0.12 and 0.01 * 0.1 * 0.12, the
        # smallest |p| being 0.12) or lr * sign(p) (Adam: its L2 term, normalised by sqrt(v^))
        assert taken.abs().min() > 1e-4
    else:  # no decay: zero momentum buffer / zero moments give a step of exactly zero
        assert torch.equal(zero_p.detach(), start)


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "SGD"])
def test_after_a_real_step_momentum_and_moments_keep_moving_a_zero_gradient(name, device, figures):
    optimizer, kwargs, kind, _ = CONFIGS[name]
    zero_p, none_p = _pair(device)
    opt_zero, opt_none = optimizer([zero_p], **kwargs), optimizer([none_p], **kwargs)
    reference = _reference(kind, kwargs)
    real = (torch.rand(2, 3, generator=generator(52), dtype=torch.float64) - 0.5).to(device)  # step 1's gradient
    zero_p.grad, none_p.grad = real.clone(), real.clone()
    before = zero_p.detach().clone()
    expected = reference.step([before], [real])[0] - before
    opt_zero.step()
    opt_none.step()
    assert_close(zero_p.detach() - before, expected, tol=STEP_TOL, msg="step 1")
    none_after_first = none_p.detach().clone()
    state_after_first = {k: v.clone() for k, v in opt_none.state[none_p].items()}
    drift = 0.0
    settings = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    for step in range(2, STEPS + 1):
        zero_p.grad, none_p.grad = torch.zeros_like(real), None
        before = zero_p.detach().clone()
        expected = reference.step([before], [torch.zeros_like(real)])[0] - before
        opt_zero.step()
        opt_none.step()
        taken = zero_p.detach() - before
        assert_close(taken, expected, tol=STEP_TOL, msg=f"step {step}")
        # SGD's buffer decays by mu = 0.9 a step: the step is lr 0.9^(k-1) ||g_1|| >= 0.05 * 0.66 * ~0.7; Adam's
        # m^ / sqrt(v^) is ~1 per element whatever |g_1| (>> eps), decaying by ~beta1 / sqrt(beta2) = 0.82 a step:
        # >= 1e-2 * 0.45 * sqrt(6). Either is far above 1e-4.
        assert taken.norm() > 1e-4, f"step {step}: a zero gradient moved nothing"
        drift += taken.norm().item()
        assert torch.equal(none_p.detach(), none_after_first), f"step {step}: the None parameter moved"
    for key, value in state_after_first.items():  # momentum buffer / moments / step count as step 1 left them
        assert torch.equal(opt_none.state[none_p][key], value), f"{key} changed while .grad was None"
    if kind != "sgd":
        assert opt_none.state[none_p]["step"].item() == 1 and opt_zero.state[zero_p]["step"].item() == STEPS
    figures.record(
        f"{name}: sum of step norms over {STEPS - 1} zero-gradient steps",
        drift,
        "parameter units",
        zh=f"{name}:{STEPS - 1} 个零梯度步的步长范数之和",
        measured_on=f"a 2 x 3 parameter, step 1's gradient drawn uniform on [-0.5, 0.5]; {settings}",
        measured_on_zh=f"2 x 3 参数,第 1 步的梯度在 [-0.5, 0.5] 上均匀抽取;{settings}",
    )


def test_plain_sgd_treats_zero_and_none_alike(device):
    optimizer, kwargs, _, _ = CONFIGS["SGD"]
    zero_p, none_p = _pair(device)
    opt_zero, opt_none = optimizer([zero_p], **kwargs), optimizer([none_p], **kwargs)
    real = (torch.rand(2, 3, generator=generator(53), dtype=torch.float64) - 0.5).to(device)
    for step in range(1, STEPS + 1):
        zero_p.grad = real.clone() if step == 1 else torch.zeros_like(real)
        none_p.grad = real.clone() if step == 1 else None
        opt_zero.step()
        opt_none.step()
        assert torch.equal(zero_p.detach(), none_p.detach())  # p - lr * 0 = p, bitwise
    assert not torch.equal(
        zero_p.detach(), torch.linspace(-1.5, 1.2, 6, dtype=torch.float64, device=device).reshape(2, 3)
    )  # step 1 did move


def test_embedding_rows_absent_from_a_batch_get_zero_gradients_that_adam_steps(device, figures):
    vocab, dim = 6, 3
    with seeded_init(54):
        table = nn.Embedding(vocab, dim)
    table = table.to(device=device, dtype=torch.float64)
    kwargs = dict(lr=0.01, betas=(0.8, 0.95))
    opt = torch.optim.Adam(table.parameters(), **kwargs)
    reference = ReferenceAdam(**kwargs)
    head = torch.tensor([-1.0, 0.5, 1.5], dtype=torch.float64, device=device)  # no zero: every column learns
    batches = [[0, 1, 2], [0, 1], [1, 0], [0]]  # row 2 only in the first batch; rows 3-5 never
    start = table.weight.detach().clone()
    row_2_after_first = None
    for step, tokens in enumerate(batches, start=1):
        opt.zero_grad()  # .grad None: but backward gives the whole table a dense gradient
        ids = torch.tensor(tokens, device=device)
        ((table(ids) @ head - 0.5) ** 2).mean().backward()
        grad = table.weight.grad
        assert grad is not None and grad.shape == (vocab, dim)
        assert torch.equal(grad[3:], torch.zeros_like(grad[3:]))  # absent rows: zeros, not None
        if step > 1:
            assert torch.equal(grad[2], torch.zeros_like(grad[2]))
        before = table.weight.detach().clone()
        expected = reference.step([before], [grad.detach().clone()])[0] - before
        opt.step()
        assert_close(table.weight.detach() - before, expected, tol=STEP_TOL, msg=f"step {step}")
        if step == 1:
            row_2_after_first = table.weight.detach()[2].clone()
    # row 2 had a real gradient at step 1 only, and kept moving: Adam steps it by lr m^ / sqrt(v^), ~lr * 0.8^k
    # per element at step k + 1 (each element of its first gradient is far above eps), so >= ~5e-3 over 3 steps
    moved_after_first = (table.weight.detach()[2] - row_2_after_first).abs()
    settings = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    assert moved_after_first.min() > 1e-3
    assert torch.equal(table.weight.detach()[3:], start[3:])  # never used: zero moments, a step of exactly 0
    figures.record(
        "Adam: |movement| of an embedding row after the one batch that held it",
        moved_after_first.max(),
        "parameter units",
        zh="Adam:只出现过一次的嵌入行在 4 步后的 |位移|",
        measured_on=f"nn.Embedding({vocab}, {dim}), Adam {settings}, batches of rows {batches}",
        measured_on_zh=f"nn.Embedding({vocab}, {dim}),Adam {settings},各批的行 {batches}",
    )
