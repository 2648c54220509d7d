"""update.scales-with-loss

Source: 「由于梯度是基于当前样本的损失计算得出的,因此样本损失值直接影响了更新量。」

What is true (qualified):
- The update follows the loss's gradient, not its value, and how it follows depends on the optimizer.
- Adding a constant to the loss changes its value but not its gradient, so every optimizer takes bit-for-bit the
  same steps; cross-entropy with soft targets and the KL divergence to those targets, which differ by the targets'
  entropy, train alike.
- Multiplying the loss by c multiplies the first SGD step by c, up to rounding; over a run, with or without
  momentum, SGD with learning rate lr on c J takes the same steps as SGD with learning rate c lr on J, up to rounding.
- For Adam, scaling the loss by c is, up to rounding, dividing eps by c, so its step is invariant to c while c |g| >>
  eps, and only shrinks in proportion to c when c |g| falls below eps.
- L2 weight decay in Adam breaks the invariance: Adam on (c J, weight_decay lambda) equals Adam on (J, lambda / c,
  eps / c); decoupled weight decay (AdamW) restores it: AdamW on (c J, lambda, eps) equals AdamW on (J, lambda, eps
  / c).
- All of this is about a factor on the whole loss: a weight c on one term of a sum J_1 + c J_2 changes the direction
  of the gradient, and Adam's step changes with it.

Why:
* J + c: d(J + c)/dtheta = dJ/dtheta. In autograd the backward of the addition hands J's graph the incoming
  gradient times 1, and x * 1 = x exactly in IEEE arithmetic, so .grad is the same bits; the optimizers are
  deterministic functions of .grad, the parameters and their state, so the whole run is the same bits (SGD with
  momentum, Adam, AdamW). Only the loss value moves: the recorded loss is fl(J + c), within 2^-53 |J + c| of
  J + c. Soft-label CE - KL = -sum p log p / N (PyTorch docs, CrossEntropyLoss with class probabilities;
  KLDivLoss with reduction='batchmean'), a constant of the targets: equal gradients, up to the rounding of two
  different operation orders (so compared to the float64 tolerance, not bitwise).
* SGD: the gradient is linear in the loss, so the first step for the loss c J is exactly c times the step for J.
  Over a run the parameters of the two runs part, so the comparison is with SGD on J at learning rate c lr: if
  both runs are at the same parameters, the gradient of c J is c g, the momentum buffer b <- mu b + c g is c
  times J's buffer, and the step lr (c b) equals (c lr) b; by induction the runs agree step after step, up to the
  rounding of lr (c g) against (c lr) g (PyTorch docs, torch.optim.SGD, dampening 0). The run test takes c from
  1e-3 to 100, where the runs train: past that they stop training, and an unstable iteration amplifies rounding.
* Adam (PyTorch docs, torch.optim.Adam; Kingma & Ba 2015, sec. 2.1): m_t scales with c and sqrt(v_t) with |c|,
  so m^/(sqrt(v^) + eps) with gradient c g equals the update with gradient g and eps / c. The first step is
  -lr g / (|g| + eps / c) per element: invariant to c while c |g| >> eps (difference <= lr eps |1/c - 1| / |g|),
  shrinking proportionally to c (like SGD with lr / eps) once c |g| << eps. Adam on (c J, eps c) reproduces
  Adam on (J, eps) exactly: eps is the only thing that sees the scale.
* L2 weight decay (Adam's weight_decay) adds lambda theta to the gradient before the normalisation, so
  Adam on (c J, lambda, eps) is exactly Adam on (J, lambda / c, eps / c): scaling the loss rescales the
  effective weight decay. Decoupled weight decay (AdamW) multiplies theta by 1 - lr lambda outside the
  normalised step, so c reaches only eps: AdamW on (c J, lambda, eps) is exactly AdamW on (J, lambda, eps / c)
  (PyTorch docs, torch.optim.AdamW; Loshchilov & Hutter 2019). These identities are checked step by step; that L2
  decay breaks the invariance is checked as Adam with L2 decay on c J leaving the tolerance within which they hold.
* A weight on one term is another matter: the gradient of J_1 + c J_2 is g_1 + c g_2, not a multiple of
  g_1 + g_2, so its direction changes, and Adam's first step -lr G / (|G| + eps) turns by 2 lr (up to eps) in each
  element whose sign the weight flips. The test weights one half of the batch by 3 and finds such elements.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.data import classification
from support.gradients import flat_grad, flat_params
from support.models import mlp
from support.tensors import generator
from support.tolerances import EXACT, assert_close, assert_ge, assert_le, override, slack, tolerance_for
from support.training import train

pytestmark = pytest.mark.claim("update.scales-with-loss")
N, IN, WIDTH, CLASSES = 16, 4, 8, 3
LR, STEPS = 0.01, 5
EPS = 1e-8  # Adam's eps (PyTorch's default)
# what the recorded numbers were measured on (the report shows it next to each)
MEASURED_ON = f"MLP {IN}-{WIDTH}-{CLASSES} (tanh), CrossEntropyLoss on two halves of a batch of {N}, Adam lr {LR}"
MEASURED_ON_ZH = (
    f"MLP {IN}-{WIDTH}-{CLASSES}(tanh),在大小为 {N} 的 batch 的两半上分别计算 CrossEntropyLoss,Adam lr {LR}"
)
START_ON = f"tanh MLP {IN}-{WIDTH}-{CLASSES} at its seeded init, mean cross-entropy over a batch of {N}"
START_ON_ZH = f"tanh MLP {IN}-{WIDTH}-{CLASSES},带种子的初始权重,大小为 {N} 的 batch 上的平均交叉熵"
# A first step read off as theta_1 - theta_0 carries the rounding of the parameters (|theta| <= 0.5 under
# PyTorch's default init of these layers, so a few ulps are < 1e-15), not the default atol of 1e-7, which
# would swallow steps of 1e-8.
STEP_TOL = override(rtol=1e-9, atol=1e-15, reason="steps read off as theta_1 - theta_0 of parameters |theta| <= 0.5")
# SGD step norms at c >= 1e-4 are >= lr c ||g|| ~ 1e-2 * 1e-4 * 0.93 ~ 9e-7; reading them off as theta_1 - theta_0
# rounds each of the 67 elements by <= ulp(0.5) / 2 = 5.6e-17, so the norm by <= sqrt(67) 5.6e-17 ~ 5e-16:
# relative ~5e-10, far below 1e-6
SGD_NORM_REL = 1e-6


def _setup(device):
    x, y = classification(N, IN, CLASSES, seed=21, device=device)
    return (lambda: mlp(IN, WIDTH, CLASSES, activation="tanh", seed=21, device=device)), x, y


def _run(make_model, x, y, c, optimizer, steps=STEPS, **kwargs):
    """Parameters after ``steps`` full-batch steps of ``optimizer`` on the loss c * CE."""
    model = make_model()
    train(
        model,
        lambda out, t: c * F.cross_entropy(out, t),
        x,
        y,
        optimizer=optimizer(model.parameters(), **kwargs),
        steps=steps,
    )
    return flat_params(model)


def _trajectory(make_model, x, y, c, optimizer, steps=STEPS, **kwargs):
    """Parameters after each of ``steps`` full-batch steps of ``optimizer`` on the loss c * CE, stacked (steps, P)."""
    model = make_model()
    history = train(
        model,
        lambda out, t: c * F.cross_entropy(out, t),
        x,
        y,
        optimizer=optimizer(model.parameters(), **kwargs),
        steps=steps,
        evaluate=flat_params,
    )
    return torch.stack(history.evaluations)


# three optimizers whose steps all depend on the gradient in different ways (momentum buffer; normalisation by
# the RMS; decoupled decay), trained on minibatches so the gradient changes from step to step
SHIFT_OPTIMIZERS = [
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99))),
    (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
]
SHIFTS = (-3.7, 1e6)  # negative (a loss below zero) and large against J ~ 1
F64_UNIT = 2.0**-52  # float64's machine epsilon


@pytest.mark.parametrize("optimizer, kwargs", SHIFT_OPTIMIZERS, ids=["SGD-momentum", "Adam", "AdamW"])
def test_adding_a_constant_changes_the_loss_value_but_not_one_bit_of_the_training_run(optimizer, kwargs, device):
    make_model, x, y = _setup(device)

    def run(c):
        model = make_model()
        history = train(
            model,
            lambda out, t: F.cross_entropy(out, t) + c,
            x,
            y,
            optimizer=optimizer(model.parameters(), **kwargs),
            steps=5,
            batch_size=8,
            seed=5,
        )
        return flat_params(model), history

    base_params, base = run(0.0)
    assert base_params.ne(flat_params(make_model())).any()  # the run did move the parameters
    for c in SHIFTS:
        params, shifted = run(c)
        assert torch.equal(params, base_params), c  # bit for bit (see Why)
        assert shifted.grad_norms == base.grad_norms  # the same gradients at every step, exactly
        for loss_c, loss in zip(shifted.losses, base.losses):
            # fl(J + c) is within 2^-53 |J + c| of J + c, and subtracting c rounds once more (2^-53 |J|)
            assert abs(loss_c - c - loss) <= F64_UNIT * (abs(loss) + abs(c)), c
            assert loss_c != loss


def test_soft_label_cross_entropy_and_kl_divergence_differ_by_the_entropy_and_train_alike(device, figures):
    make_model, x, _ = _setup(device)
    g = generator(22)
    soft = F.softmax(2 * torch.randn(x.shape[0], 3, generator=g, dtype=torch.float64), dim=1).to(device)
    entropy = -(soft * soft.log()).sum(dim=1).mean()  # the constant between the two losses: H(p) per sample
    ce = lambda out, p: F.cross_entropy(out, p)
    kl = lambda out, p: F.kl_div(F.log_softmax(out, dim=1), p, reduction="batchmean")
    histories, finals = [], []
    for loss_fn in (ce, kl):
        model = make_model()
        histories.append(train(model, loss_fn, x, soft, optimizer=torch.optim.SGD(model.parameters(), lr=0.5), steps=5))
        finals.append(flat_params(model))
    (h_ce, h_kl), (p_ce, p_kl) = histories, finals
    # the loss values differ by H(p) at every step, the runs do not: the same gradient up to rounding
    for loss_ce, loss_kl in zip(h_ce.losses, h_kl.losses):
        assert abs(loss_ce - loss_kl - entropy.item()) <= 1e-12  # float64 sums of 48 terms of size ~1
    assert entropy > 0.1  # a visible offset: soft targets drawn with logits of std 2 are far from one-hot
    assert_close(p_ce, p_kl)
    assert_close(torch.tensor(h_ce.grad_norms), torch.tensor(h_kl.grad_norms))
    figures.record(
        "soft-label CE - KL (batchmean): the targets' mean entropy",
        entropy,
        "nats",
        zh="软标签 CE - KL (batchmean):目标分布的平均熵",
        measured_on=f"{soft.shape[0]} soft targets over {soft.shape[1]} classes, softmax of random normal logits",
        measured_on_zh=f"{soft.shape[0]} 个 {soft.shape[1]} 类软标签,由随机正态 logits 经 softmax 得到",
    )


def _start_and_grad(make_model, x, y):
    """The start parameters and the gradient of the (unscaled) mean CE there."""
    model = make_model()
    start = flat_params(model)
    F.cross_entropy(model(x), y).backward()
    return start, flat_grad(model)


@given(c=st.floats(1e-3, 1e3))
def test_sgd_first_step_scales_exactly_with_the_loss(device, c):
    make_model, x, y = _setup(device)
    start = flat_params(make_model())
    step_1 = _run(make_model, x, y, 1.0, torch.optim.SGD, steps=1, lr=LR) - start
    step_c = _run(make_model, x, y, c, torch.optim.SGD, steps=1, lr=LR) - start
    assert start.abs().max() <= 0.5
    assert_close(
        step_c,
        c * step_1,
        tol=override(
            rtol=1e-9,
            atol=1e-15 * max(1.0, c),
            reason=("steps read off as theta_1 - theta_0 (|theta| <= 0.5); c * step_1 multiplies their rounding by c"),
        ),
    )


SGD_RUN_STEPS = 8  # minibatches of 8 of the 16 samples: 4 epochs, the gradient changes from step to step


# c up to 100 (lr c up to 1, with momentum 0.9 an effective lr up to 10): these runs still train, their loss falling
# (from 1.10 to 0.06 at c = 70 with momentum). Past it they stop training (at c = 230 with momentum the loss rises
# over the run) and float64 rounding differences grow with the unstable iteration, to 1.1e-12 of the largest parameter
# there: the identity still holds in exact arithmetic, but the comparison would measure the instability, not SGD
@given(c=st.floats(1e-3, 100.0), momentum=st.sampled_from([0.0, 0.9]))
def test_sgd_on_c_times_the_loss_follows_sgd_with_c_times_the_learning_rate(device, c, momentum):
    make_model, x, y = _setup(device)

    def run(loss_scale, lr):
        model = make_model()
        train(
            model,
            lambda out, t: loss_scale * F.cross_entropy(out, t),
            x,
            y,
            optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
            steps=SGD_RUN_STEPS,
            batch_size=8,
            seed=5,
        )
        return flat_params(model)

    start = flat_params(make_model())
    on_scaled_loss, with_scaled_lr = run(c, LR), run(1.0, c * LR)
    # identical in exact arithmetic (see Why); in float64 the steps lr (c g) and (c lr) g round differently, by a few
    # ulps (eps = 2.2e-16) of the largest parameter each; over 8 steps of a run that does not diverge, 1e-12 of the
    # largest parameter leaves a factor ~300 over 8 x 2 ulps for the dynamics to amplify them
    scale = max(with_scaled_lr.abs().max().item(), start.abs().max().item())
    tol = override(
        rtol=0.0,
        atol=1e-12 * scale,
        reason="float64 rounding of 8 SGD steps, a few ulps of the largest parameter a step, amplified by the dynamics",
    )
    assert_close(on_scaled_loss, with_scaled_lr, tol=tol)
    # not vacuous: the run moved the parameters by more than the tolerance (else not moving at all would pass)
    assert_ge((with_scaled_lr - start).abs().max(), tol.atol, slack=EXACT, strict=True)


@given(c=st.floats(1e-12, 1e6))
def test_adam_first_step_is_lr_g_over_abs_g_plus_eps_over_c(device, c):
    make_model, x, y = _setup(device)
    start, g = _start_and_grad(make_model, x, y)
    step_c = _run(make_model, x, y, c, torch.optim.Adam, steps=1, lr=LR, eps=EPS) - start
    # t = 1: m^ = c g, v^ = c^2 g^2, so the step is -lr c g / (c |g| + eps) = -lr g / (|g| + eps / c)
    expected = -LR * g / (g.abs() + EPS / c)
    assert_close(step_c, expected, tol=STEP_TOL)
    step_1 = -LR * g / (g.abs() + EPS)
    # |g/(|g| + a) - g/(|g| + b)| = |g| |a - b| / ((|g| + a)(|g| + b)) <= |a - b| / |g|, plus the rounding of
    # the step read off from the parameters (STEP_TOL.atol)
    assert_le(
        (step_c - step_1).abs(),
        LR * EPS * abs(1 / c - 1) / g.abs(),
        slack=slack(
            abs=STEP_TOL.atol,
            reason=("rounding of the step read off as theta_1 - theta_0 of parameters |theta| <= 0.5"),
        ),
    )


def test_a_weight_on_one_term_of_the_loss_changes_adams_step(device, figures):
    # J = J_1 + c J_2 with J_1, J_2 the mean CE of the two halves of the batch: the gradient g_1 + c g_2 is not a
    # multiple of g_1 + g_2, so Adam's first step -lr G / (|G| + eps) changes wherever the weight flips the sign of
    # an element of G (by 2 lr there), unlike a factor on the whole loss (the tests above)
    make_model, x, y = _setup(device)
    c = 3.0

    def first_step_and_grad(weight):
        model = make_model()
        start = flat_params(model)
        loss = F.cross_entropy(model(x[:8]), y[:8]) + weight * F.cross_entropy(model(x[8:]), y[8:])
        loss.backward()
        grad = flat_grad(model)
        torch.optim.Adam(model.parameters(), lr=LR, eps=EPS).step()
        return flat_params(model) - start, grad

    step_1, g = first_step_and_grad(1.0)
    step_c, g_c = first_step_and_grad(c)
    for step, grad in ((step_1, g), (step_c, g_c)):
        assert_close(step, -LR * grad / (grad.abs() + EPS), tol=STEP_TOL)
    flipped = (torch.sign(g) != torch.sign(g_c)) & (g.abs() > 100 * EPS) & (g_c.abs() > 100 * EPS)
    assert flipped.any()
    assert_ge(
        (step_c - step_1)[flipped].abs().min(),
        2 * LR * 100 / 101,
        slack=slack(
            abs=STEP_TOL.atol,
            reason=("rounding of the steps read off as theta_1 - theta_0 of parameters |theta| <= 0.5"),
        ),
    )
    figures.record(
        f"Adam, weight {c:g} on one of two loss terms: share of elements whose first step flips sign",
        flipped.double().mean(),
        "1",
        zh=f"Adam,两项损失之一加权 {c:g}:第一步符号翻转的元素比例",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )


def test_adam_step_is_flat_in_c_until_c_g_reaches_eps(device, figures):
    make_model, x, y = _setup(device)
    start, g = _start_and_grad(make_model, x, y)
    g = g.abs()
    cs = [10.0**k for k in range(-14, 5)]
    adam = [(_run(make_model, x, y, c, torch.optim.Adam, steps=1, lr=LR, eps=EPS) - start).norm().item() for c in cs]
    # each element moves by lr c|g| / (c|g| + eps):
    # c min|g| >= 1e3 eps: every element moves by lr (1 - <= 1e-3), so the step norm is lr sqrt(P) (1 - <= 1e-3)
    flat = [n for c, n in zip(cs, adam) if c * g.min() >= 1e3 * EPS]
    assert len(flat) >= 3
    assert all(abs(n / (LR * len(g) ** 0.5) - 1) <= 1.001e-3 for n in flat)
    # c max|g| <= 1e-3 eps: every element moves by lr c|g| / eps (1 - <= 1e-3): the norm is lr c ||g|| / eps
    tiny = [(c, n) for c, n in zip(cs, adam) if c * g.max() <= 1e-3 * EPS]
    assert len(tiny) >= 3
    assert all(abs(n / (LR * c * g.norm().item() / EPS) - 1) <= 1.001e-3 for c, n in tiny)
    sgd_cs = [c for c in cs if c >= 1e-4]  # below that lr c |g| sinks under the rounding of theta
    sgd = [(_run(make_model, x, y, c, torch.optim.SGD, steps=1, lr=LR) - start).norm().item() for c in sgd_cs]
    assert all(abs(n / (LR * c * g.norm().item()) - 1) < SGD_NORM_REL for c, n in zip(sgd_cs, sgd))
    figures.record(
        "min |g| at the start",
        g.min(),
        "gradient units",
        zh="初始点的 min |g|",
        measured_on=START_ON,
        measured_on_zh=START_ON_ZH,
    )
    figures.record(
        "max |g| at the start",
        g.max(),
        "gradient units",
        zh="初始点的 max |g|",
        measured_on=START_ON,
        measured_on_zh=START_ON_ZH,
    )
    adam_on, adam_on_zh = f"{START_ON}; Adam lr {LR}, eps {EPS:g}", f"{START_ON_ZH};Adam lr {LR},eps {EPS:g}"
    figures.record(
        "Adam first-step norm, c = 1e4 / c = 1",
        adam[-1] / adam[cs.index(1.0)],
        "1",
        zh="Adam 第一步的范数,c = 1e4 / c = 1",
        measured_on=adam_on,
        measured_on_zh=adam_on_zh,
    )
    figures.record(
        "Adam first-step norm, c = 1e-14 / c = 1",
        adam[0] / adam[cs.index(1.0)],
        "1",
        zh="Adam 第一步的范数,c = 1e-14 / c = 1",
        measured_on=adam_on,
        measured_on_zh=adam_on_zh,
    )
    figures.record(
        "SGD first-step norm, c = 1e4 / c = 1",
        sgd[-1] / sgd[sgd_cs.index(1.0)],
        "1",
        zh="SGD 第一步的范数,c = 1e4 / c = 1",
    )
    plot = figures.plot(
        "first-step size vs loss scale c: Adam and SGD",
        x_label="loss scale c (factor on the loss)",
        y_label="first-step size ||theta_1 - theta_0|| (L2)",
        zh=(
            "第一步步长与损失缩放 c 的关系:Adam 与 SGD",
            "损失缩放 c(乘在损失上的因子)",
            "第一步步长 ||theta_1 - theta_0||(L2)",
        ),
        log_x=True,
        log_y=True,
    )
    plot.line(f"Adam (eps = {EPS:g})", cs, adam, zh=f"Adam 优化器(eps = {EPS:g})")
    plot.line(f"SGD (lr = {LR:g})", sgd_cs, sgd, zh=f"SGD 优化器(lr = {LR:g})")
    plot.bound(
        f"Adam's ceiling lr sqrt(P), P = {len(g)} parameters",
        [cs[0], cs[-1]],
        [LR * len(g) ** 0.5] * 2,
        zh=f"Adam 的上限 lr sqrt(P),P = {len(g)} 个参数",
    )


@pytest.mark.parametrize("c", [1e-3, 100.0])
def test_adam_on_scaled_loss_equals_adam_with_eps_scaled_the_same(device, c):
    make_model, x, y = _setup(device)
    base = _run(make_model, x, y, 1.0, torch.optim.Adam, lr=LR, eps=EPS)
    scaled = _run(make_model, x, y, c, torch.optim.Adam, lr=LR, eps=EPS * c)
    assert_close(scaled, base)


@pytest.mark.parametrize("c", [1e-3, 100.0])
def test_l2_weight_decay_breaks_the_invariance_and_decoupled_decay_restores_it(device, figures, c):
    make_model, x, y = _setup(device)
    lam = 0.1
    start = flat_params(make_model())
    # exact identity, step by step: Adam(c J, lambda, eps) = Adam(J, lambda / c, eps / c)
    l2_scaled = _trajectory(make_model, x, y, c, torch.optim.Adam, lr=LR, eps=EPS, weight_decay=lam)
    assert_close(
        l2_scaled, _trajectory(make_model, x, y, 1.0, torch.optim.Adam, lr=LR, eps=EPS / c, weight_decay=lam / c)
    )
    # exact identity, step by step: AdamW(c J, lambda, eps) = AdamW(J, lambda, eps / c). AdamW rather than
    # Adam(decoupled_weight_decay=True): the same rule, and torch 2.5 has no such flag
    kw = dict(lr=LR, weight_decay=lam)
    dec_scaled = _trajectory(make_model, x, y, c, torch.optim.AdamW, eps=EPS, **kw)
    assert_close(dec_scaled, _trajectory(make_model, x, y, 1.0, torch.optim.AdamW, eps=EPS / c, **kw))
    # L2 breaks the invariance: by the identity above the run on c J decays with lambda / c. Against a control that
    # differs from it in that decay alone, Adam(J, lambda, eps / c), it misses by far more than the tolerance the
    # identities pass at (eps / c alone moves the run by ~5e-7, which is why the control carries it too); AdamW's
    # run on c J is that control's AdamW twin exactly (the second identity)
    l2_control = _trajectory(make_model, x, y, 1.0, torch.optim.Adam, lr=LR, eps=EPS / c, weight_decay=lam)
    tol = tolerance_for(l2_control.dtype)
    assert not torch.allclose(l2_scaled[-1], l2_control[-1], rtol=tol.rtol, atol=tol.atol)
    l2_base = _trajectory(make_model, x, y, 1.0, torch.optim.Adam, lr=LR, eps=EPS, weight_decay=lam)
    dec_base = _trajectory(make_model, x, y, 1.0, torch.optim.AdamW, eps=EPS, **kw)
    l2_scaled, l2_base, dec_scaled, dec_base = l2_scaled[-1], l2_base[-1], dec_scaled[-1], dec_base[-1]
    l2_drift = ((l2_scaled - l2_base).norm() / (l2_base - start).norm()).item()
    dec_drift = ((dec_scaled - dec_base).norm() / (dec_base - start).norm()).item()
    on = (
        f"tanh MLP {IN}-{WIDTH}-{CLASSES}, cross-entropy, batch {N}, {STEPS} full-batch steps, lr {LR}, eps {EPS:g}, "
        f"weight_decay {lam}"
    )
    on_zh = (
        f"tanh MLP {IN}-{WIDTH}-{CLASSES},交叉熵,batch 大小 {N},{STEPS} 步全 batch 训练,lr {LR},eps {EPS:g},"
        f"weight_decay {lam}"
    )
    figures.record(
        f"Adam + L2 decay: drift between loss x{c:g} and x1 runs / distance",
        l2_drift,
        "1",
        zh=f"Adam + L2 权重衰减:损失 x{c:g} 与 x1 两次运行之间的偏离 / 移动距离",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        f"AdamW: drift between loss x{c:g} and x1 runs / distance",
        dec_drift,
        "1",
        zh=f"AdamW:损失 x{c:g} 与 x1 两次运行之间的偏离 / 移动距离",
        measured_on=on,
        measured_on_zh=on_zh,
    )
