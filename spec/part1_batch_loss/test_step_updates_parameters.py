"""step.updates-parameters

Source: 「在反向传播后, 通常会调用优化器的`step()`方法来更新模型参数。」

What is true (confirmed):
- optimizer.step() changes each parameter exactly by its optimizer's documented update rule applied to .grad and to
  the optimizer's state, and nothing else: p <- p - lr * p.grad for plain SGD.
- Adam and AdamW, with any lr, betas, eps, weight_decay and amsgrad, follow the documented algorithm step after step
  through a run whose gradient changes at every step (moment estimates, bias corrections 1 - beta^t at the current
  t, the AMSGrad maximum, L2 or decoupled weight decay).
- A parameter whose .grad is None is skipped and keeps its exact value, even under weight decay.
- A zero gradient is not a None gradient: weight decay moves the parameter at once, and momentum or Adam's moments
  left by earlier steps keep moving it; only a first step without weight decay leaves it unchanged.
- step() computes no gradient itself, so stepping before any backward changes nothing.

Why: the update rules are the pseudocode on the PyTorch docs pages of torch.optim.SGD, torch.optim.Adam
(Kingma & Ba 2015, Algorithm 1; amsgrad: Reddi, Kale & Kumar 2018) and torch.optim.AdamW (Loshchilov & Hutter
2019, Algorithm 2). A check at step 1 alone cannot see the betas: there m^ = g and v^ = g^2 whatever they are
(the bias corrections undo them exactly), nor can a run whose gradient never changes; and comparing Adam with
Adam cancels any error both runs share. So the Adam/AdamW test
trains on minibatches (a different gradient at every step), and at every step compares torch's step with
support.reference_optim.ReferenceAdam, a float64 implementation of the documented algorithm that keeps its own
moments, built from the same gradients. The steps are compared, not the parameters: an error of up to ~1e-5 of a
step of ~lr = 1e-2 would hide in the parameters' default tolerance (rtol 1e-7 of |p| ~ 0.3); torch and the reference
order the same float64 operations
differently (e.g. sqrt(v) / sqrt(1 - beta2^t) against sqrt(v / (1 - beta2^t))), a few ulps of each step.
SGD with momentum, dampening, Nesterov and weight decay is compared with ReferenceSGD over several steps in
update.sgd-rule.
None and zero differ (PyTorch docs, torch.optim.Optimizer.zero_grad: optimizers "have a different behavior if the
gradient is 0 or None (in one case it does the step with a gradient of 0 and in the other it skips the step
altogether)"): a parameter whose .grad is None is skipped, while a zero .grad goes through the rule.
SGD's weight_decay makes it g + lambda p = lambda p, and AdamW multiplies p by 1 - lr lambda: both move p at once;
momentum's buffer b_1 = g_1 = 0 and Adam's m_1 = 0 give no move at the first step (Adam: 0 / (0 + eps)), but after
a real step b and m are non-zero and keep moving p. The test zeroes one gradient at step 1 or step 2 and compares
the step with the reference implementations.
"""

import pytest
import torch
import torch.nn.functional as F

from support.data import classification, regression
from support.gradients import flat_params
from support.models import mlp
from support.reference_optim import ReferenceAdam, ReferenceSGD
from support.tolerances import assert_close, override

pytestmark = pytest.mark.claim("step.updates-parameters")
LR = 0.1


def _model_and_data(device):
    model = mlp(3, 5, 1, depth=2, seed=3, device=device)
    x, y = regression(10, 3, 1, seed=3, device=device)
    return model, x, y


def _model_and_loss(device):
    model, x, y = _model_and_data(device)
    return model, F.mse_loss(model(x), y)


def test_sgd_step_moves_each_parameter_by_minus_lr_times_grad(device):
    model, loss = _model_and_loss(device)
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    torch.optim.SGD(model.parameters(), lr=LR).step()
    for p, p0 in zip(model.parameters(), before):
        assert_close(p.detach(), p0 - LR * p.grad)
        assert not torch.equal(p.detach(), p0)


# optimizers that would move a parameter without a gradient if they did not skip it: weight decay (L2 or
# decoupled) pulls it towards 0, and after a first step the momentum buffer / Adam's moments would keep moving it
SKIPPING = [
    (torch.optim.SGD, dict(lr=LR, momentum=0.9, weight_decay=0.1)),
    (torch.optim.Adam, dict(lr=LR, weight_decay=0.1)),
    (torch.optim.AdamW, dict(lr=LR, weight_decay=0.1)),
]


@pytest.mark.parametrize("optimizer, kwargs", SKIPPING, ids=["SGD-momentum-decay", "Adam-decay", "AdamW"])
@pytest.mark.parametrize("skip_at", [1, 2], ids=["first-step", "after-a-step"])
def test_parameter_without_grad_is_left_untouched(optimizer, kwargs, skip_at, device):
    # step 1 with every gradient (for skip_at = 2: the optimizer now holds momentum / moment state for every
    # parameter), then a step in which one parameter's .grad is None: it must keep its exact value
    model, x, y = _model_and_data(device)
    opt = optimizer(model.parameters(), **kwargs)
    skipped = model[0].bias
    for step in range(1, skip_at + 1):
        opt.zero_grad(set_to_none=True)
        F.mse_loss(model(x), y).backward()
        before = [p.detach().clone() for p in model.parameters()]
        if step == skip_at:
            skipped.grad = None
        opt.step()
    for p, p0 in zip(model.parameters(), before):
        if p is skipped:
            assert torch.equal(p.detach(), p0)  # bitwise: not even weight decay or momentum moved it
        else:
            assert not torch.equal(p.detach(), p0)  # while every parameter with a grad moved


# a zero gradient is a gradient: step() applies the rule to it. Each case says at which step it must move:
# weight decay adds lambda p to it (SGD) or shrinks p outside the step (AdamW) at once; momentum and Adam's first
# moment are 0 at the first step (b_1 = g_1 = 0, m_1 = 0: a step 0 / (0 + eps) = 0) and non-zero after a real one
ZERO_GRAD = [
    (torch.optim.SGD, dict(lr=LR, weight_decay=0.1), ReferenceSGD, {}, True),
    (torch.optim.SGD, dict(lr=LR, momentum=0.9), ReferenceSGD, {}, False),
    (torch.optim.Adam, dict(lr=LR), ReferenceAdam, {}, False),
    (torch.optim.AdamW, dict(lr=LR, weight_decay=0.1), ReferenceAdam, dict(decoupled_weight_decay=True), True),
]


@pytest.mark.parametrize(
    "optimizer, kwargs, reference, ref_extra, decays", ZERO_GRAD, ids=["SGD-decay", "SGD-momentum", "Adam", "AdamW"]
)
@pytest.mark.parametrize("zero_at", [1, 2], ids=["first-step", "after-a-step"])
def test_a_zero_gradient_is_stepped_unlike_a_none_gradient(
    optimizer, kwargs, reference, ref_extra, decays, zero_at, device
):
    model, x, y = _model_and_data(device)
    params = list(model.parameters())
    opt = optimizer(params, **kwargs)
    ref = reference(**kwargs, **ref_extra)
    zeroed = model[0].bias
    for step in range(1, zero_at + 1):
        opt.zero_grad(set_to_none=True)
        F.mse_loss(model(x), y).backward()
        if step == zero_at:
            zeroed.grad = torch.zeros_like(zeroed)  # not None: a gradient of exactly 0
        before = [p.detach().clone() for p in params]
        expected = ref.step(before, [p.grad.detach().clone() for p in params])
        opt.step()
    i = next(k for k, p in enumerate(params) if p is zeroed)
    assert_close(
        zeroed.detach(),
        expected[i],
        tol=override(
            rtol=1e-12, atol=1e-15, reason="the documented rule computed in another operation order: a few ulps"
        ),
    )
    # moved: at once under weight decay; otherwise only by the state a real step left (momentum, Adam's moments)
    assert (not torch.equal(zeroed.detach(), before[i])) == (decays or zero_at > 1)


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam], ids=["SGD", "Adam"])
def test_step_before_backward_changes_nothing(optimizer, device):
    model, _ = _model_and_loss(device)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer(model.parameters(), lr=LR).step()
    assert all(torch.equal(p.detach(), p0) for p, p0 in zip(model.parameters(), before))


# Adam/AdamW settings away from the defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay): beta2 < beta1,
# an eps that is not negligible against |g| ~ 1e-2..1e-1, L2 and decoupled decay, AMSGrad, maximize, both
# torch implementations (for-loop and foreach)
ADAM_RUNS = [
    (torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, foreach=False)),
    (torch.optim.Adam, dict(lr=0.005, betas=(0.95, 0.9), eps=1e-3, amsgrad=True, maximize=True, foreach=True)),
    (torch.optim.AdamW, dict(lr=0.03, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.3, foreach=True)),
    (torch.optim.AdamW, dict(lr=0.01, betas=(0.7, 0.95), eps=1e-5, weight_decay=0.1, amsgrad=True, foreach=False)),
]
ADAM_STEPS, BATCH = 6, 8
IN, WIDTH, CLASSES = 4, 8, 3  # the tanh MLP and the blobs the Adam runs train on
# Each step element is lr m^ / (sqrt(v^) + eps) computed by both sides in float64 with a few operations in a
# different order: a relative error of a few ulps (~1e-15); read off as p_after - p_before it also carries the
# rounding of p (|p| < 1: <= 1.1e-16 each). 1e-12 relative leaves room for the orders and is still 1e8 times
# finer than any error in the moments or bias corrections (those change steps by O(1 - beta) relative).
STEP_TOL = override(rtol=1e-12, atol=1e-15, reason="float64 steps, same formula in a different operation order")


@pytest.mark.parametrize(
    "optimizer, kwargs", ADAM_RUNS, ids=["Adam-L2", "Adam-amsgrad-maximize", "AdamW", "AdamW-amsgrad"]
)
def test_adam_and_adamw_follow_the_documented_algorithm_step_after_step(optimizer, kwargs, device, figures):
    x, y = classification(ADAM_STEPS * BATCH, IN, CLASSES, seed=11, device=device)
    model = mlp(IN, WIDTH, CLASSES, activation="tanh", seed=11, device=device)
    params = list(model.parameters())
    opt = optimizer(params, **kwargs)
    ref_kwargs = {k: v for k, v in kwargs.items() if k != "foreach"}
    reference = ReferenceAdam(decoupled_weight_decay=optimizer is torch.optim.AdamW, **ref_kwargs)
    # the same reference without the AMSGrad maximum, to show that the maximum acted (the test is not vacuous)
    plain = ReferenceAdam(decoupled_weight_decay=optimizer is torch.optim.AdamW, **{**ref_kwargs, "amsgrad": False})
    grads_seen, amsgrad_gap = [], 0.0
    for t in range(ADAM_STEPS):  # a training loop: each step sees another minibatch and the moved parameters
        xb, yb = x[t * BATCH : (t + 1) * BATCH], y[t * BATCH : (t + 1) * BATCH]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        before = [p.detach().clone() for p in params]
        grads = [p.grad.detach().clone() for p in params]
        expected = flat_params(reference.step(before, grads)) - flat_params(before)
        without_max = flat_params(plain.step(before, grads)) - flat_params(before)
        opt.step()
        taken = flat_params(params) - flat_params(before)
        assert_close(taken, expected, tol=STEP_TOL, msg=f"step {t + 1}")
        amsgrad_gap = max(amsgrad_gap, ((without_max - expected).norm() / expected.norm()).item())
        grads_seen.append(flat_params(grads))
    assert opt.state[params[0]]["step"].item() == ADAM_STEPS == reference.t
    # the gradients did change from step to step: with one gradient g throughout, m^ = g and v^ = g^2 at every
    # step whatever the betas, and the test could not see them
    cosines = [F.cosine_similarity(a, b, dim=0).item() for a, b in zip(grads_seen, grads_seen[1:])]
    assert max(cosines) < 0.99
    if kwargs.get("amsgrad"):
        # v_t fell below its running maximum at some step, so AMSGrad's step differed from Adam's by far more
        # than STEP_TOL (a test where the maximum never acted could not tell the two rules apart)
        assert amsgrad_gap > 1e-6
        settings = ", ".join(f"{k}={v}" for k, v in ref_kwargs.items())
        figures.record(
            f"{optimizer.__name__} amsgrad: largest relative change of a step by the maximum",
            amsgrad_gap,
            "1",
            zh=f"{optimizer.__name__} amsgrad:取最大值给单步更新带来的最大相对变化",
            measured_on=f"tanh MLP {IN}-{WIDTH}-{CLASSES}, cross-entropy, {ADAM_STEPS} steps on minibatches of "
            f"{BATCH}; {settings}",
            measured_on_zh=f"tanh MLP {IN}-{WIDTH}-{CLASSES},交叉熵,在大小为 {BATCH} 的 minibatch 上训练 {ADAM_STEPS} "
            f"步;{settings}",
        )
