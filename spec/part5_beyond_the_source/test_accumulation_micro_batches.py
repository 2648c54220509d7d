"""accumulation.micro-batches

What is true (confirmed):
- Because backward accumulates into .grad, splitting a batch of N into k equal micro-batches and calling (loss_j /
  k).backward() on each micro-batch's mean loss leaves the full batch's mean-loss gradient, up to rounding.
- With unequal micro-batch sizes s_j, dividing by k weights each sample of micro-batch j by 1 / (k s_j) instead of 1
  / N and gives a different gradient; weighting micro-batch j's mean loss by s_j / N, or summing the losses and
  dividing by the full batch's number of loss terms, restores the full-batch gradient, and the same weights average
  the micro-batches' (or an epoch's batches') mean losses into the full mean loss, where their plain mean misses it.
- Clipping belongs after the last micro-batch's backward: clip_grad_norm_ then sees the accumulated gradient and
  gives the full batch's clipped gradient up to rounding, while clipping the running .grad after every micro-batch
  rescales partial sums and gives another gradient.
- This needs each sample's loss to depend on that sample alone and on no random draw: train-mode BatchNorm
  normalises each micro-batch with its own statistics, so the accumulated gradient differs from the full batch's
  (coupling.batchnorm).
- Dropout in train mode draws new masks at every forward, so the accumulated gradient equals the full batch's only
  for the same masks; in eval mode both layers are fixed functions and the identity holds.

Why: backward accumulates into .grad (PyTorch docs, torch.Tensor.backward); with k micro-batches of m samples each
sample gets the weight (1/k)(1/m) = 1/N, and with sizes s_j the plain /k gives sample i of micro-batch j the weight
1 / (k s_j). Hypothesis checks equal splits (k up to 5, m up to 4) and unequal sizes: s_j / N weighting reproduces
the full gradient, and plain /k equals the per-sample gradients weighted by 1 / (k s_j). For sizes (1, 7) the miss
is derived: (1/2 - 1/8) g_1 + (1/2 - 7/8) g_2 = (3/8)(g_1 - g_2), with g_j micro-batch j's mean gradient; summing
the MSE losses and dividing by the full batch's N x outputs terms is exact. The loss values are averaged by the same
weights: (1/8) l_1 + (7/8) l_2 is the full mean loss and (l_1 + l_2) / 2 misses it by (3/8)(l_1 - l_2), as for an
epoch's batch losses with a short last batch. Goyal et al. 2017 (sec. 3, Remark 3) make the same point for
workers: normalise by the total minibatch size. clip_grad_norm_ scales whatever .grad holds when it is called by
min(1, max_norm / (norm + 1e-6)) (PyTorch docs): called once after the last backward it clips the full batch's
gradient; called after every backward it clips the partial sums, r_j = clip(r_{j-1} + g_j / k), and the test
derives that result and checks that it differs from the full batch's clipped gradient (3 micro-batches of 3,
max_norm half the smallest partial-sum norm, so every clip acts).
The identity needs a forward that is a fixed function of each sample. Train-mode BatchNorm is not (coupling.batchnorm
tests accumulation against the full batch in both modes). Dropout in train mode draws a mask at every forward
(PyTorch docs, nn.Dropout: elements zeroed with probability p, the rest scaled by 1 / (1 - p)): the test records the
masks that the micro-batch forwards drew, replays them in one full-batch forward and gets the accumulated gradient
back, while a full-batch forward with masks of its own gives another gradient; in eval mode the identity holds.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.data import regression
from support.gradients import flat_grad, per_sample_grads_loop
from support.models import mlp
from support.tolerances import EXACT, accumulation, assert_close, assert_ge

pytestmark = pytest.mark.claim("accumulation.micro-batches")
# what the recorded numbers were measured on (the report shows it next to each)
MEASURED_ON = "MLP 3-8-2 (tanh), MSELoss, 8 samples in micro-batches of 1 and 7"
MEASURED_ON_ZH = "MLP 3-8-2(tanh),MSELoss,8 个样本分成大小为 1 和 7 的 micro-batch"
DROPOUT_ON = "MLP 3-8-2 (tanh) with dropout 0.3, MSELoss, 8 samples in micro-batches of 3 and 5"
DROPOUT_ON_ZH = "MLP 3-8-2(tanh)加 dropout 0.3,MSELoss,8 个样本分成大小为 3 和 5 的 micro-batch"
IN, OUT = 3, 2


def _setup(n, seed, device):
    x, y = regression(n, IN, OUT, seed=seed, device=device)
    return mlp(IN, 8, OUT, depth=2, activation="tanh", seed=seed, device=device), x, y


def _full_batch_mean_grad(model, x, y):
    model.zero_grad(set_to_none=True)
    F.mse_loss(model(x), y).backward()
    return flat_grad(model).clone()


def _accumulate(model, x, y, sizes, weights):
    """zero_grad, then (weight_j * mean loss of micro-batch j).backward() for each micro-batch: one .grad."""
    model.zero_grad(set_to_none=True)
    for chunk_x, chunk_y, w in zip(x.split(list(sizes)), y.split(list(sizes)), weights):
        (w * F.mse_loss(model(chunk_x), chunk_y)).backward()
    return flat_grad(model).clone()


@given(k=st.integers(1, 5), m=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_equal_micro_batches_with_loss_over_k_reproduce_the_full_batch_gradient(k, m, seed, device):
    n = k * m
    model, x, y = _setup(n, seed, device)
    full = _full_batch_mean_grad(model, x, y)
    accumulated = _accumulate(model, x, y, [m] * k, [1.0 / k] * k)
    assert_close(accumulated, full, tol=accumulation(full.dtype, n * OUT))


@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4).filter(lambda s: len(set(s)) > 1),
    seed=st.integers(0, 10_000),
)
def test_unequal_micro_batches_need_size_weighting(sizes, seed, device):
    n, k = sum(sizes), len(sizes)
    model, x, y = _setup(n, seed, device)
    tol = accumulation(torch.float64, n * OUT)
    full = _full_batch_mean_grad(model, x, y)
    # the fix: micro-batch j's mean loss times s_j / N
    assert_close(_accumulate(model, x, y, sizes, [s / n for s in sizes]), full, tol=tol)
    # plain / k: sample i of micro-batch j weighs 1 / (k s_j); built here from per-sample gradients
    per_sample = per_sample_grads_loop(model, F.mse_loss, x, y)
    g = torch.cat([t.reshape(n, -1) for t in per_sample.values()], dim=1)  # (N, P), parameter order
    weights = torch.cat([torch.full((s,), 1.0 / (k * s), dtype=g.dtype, device=g.device) for s in sizes])
    assert_close(_accumulate(model, x, y, sizes, [1.0 / k] * k), weights @ g, tol=tol)
    assert_close(g.mean(dim=0), full, tol=tol)  # while the full batch weighs every sample 1 / N


def test_plain_over_k_misses_by_a_derived_amount(device, figures):
    # sizes (1, 7), k = 2: plain /k gives (g_1 + g_2) / 2, the full mean is (1/8) g_1 + (7/8) g_2, where g_j is
    # micro-batch j's mean gradient; the miss is (1/2 - 1/8) g_1 + (1/2 - 7/8) g_2 = (3/8) (g_1 - g_2).
    sizes = (1, 7)
    model, x, y = _setup(8, 17, device)
    tol = accumulation(torch.float64, 8 * OUT)
    full = _full_batch_mean_grad(model, x, y)
    g1 = _full_batch_mean_grad(model, x[:1], y[:1])
    g2 = _full_batch_mean_grad(model, x[1:], y[1:])
    plain = _accumulate(model, x, y, sizes, [0.5, 0.5])
    assert_close(plain - full, 0.375 * (g1 - g2), tol=tol)
    # a real miss, not rounding: assert_close above would also accept plain == full if every entry of the derived
    # miss were within atol / (1 - rtol) of 0; the largest one is not, so the check tells the two apart
    assert_ge(
        (0.375 * (g1 - g2)).abs().max(),
        tol.atol / (1 - tol.rtol),
        slack=EXACT,
        strict=True,
        msg="the derived miss (3/8) (g_1 - g_2) is within the tolerance of 0",
    )
    figures.record(
        "||plain /k - full|| / ||full||, sizes (1, 7)",
        (plain - full).norm() / full.norm(),
        "1",
        zh="||plain /k - full|| / ||full||,micro-batch 大小 (1, 7)",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
    # summing the losses and dividing by N is the other correct recipe
    model.zero_grad(set_to_none=True)
    for cx, cy in zip(x.split(list(sizes)), y.split(list(sizes))):
        (F.mse_loss(model(cx), cy, reduction="sum") / (8 * OUT)).backward()  # N * OUT terms in the full mean
    assert_close(flat_grad(model), full, tol=tol)
    # the loss values average the same way (an epoch's batch losses with a short last batch too): weighted by size
    # they give the full mean, while the plain mean of the two misses by (3/8) (l_1 - l_2)
    with torch.no_grad():
        l1, l2, whole = F.mse_loss(model(x[:1]), y[:1]), F.mse_loss(model(x[1:]), y[1:]), F.mse_loss(model(x), y)
    assert_close(l1 / 8 + 7 * l2 / 8, whole, tol=tol)
    assert_close((l1 + l2) / 2 - whole, 0.375 * (l1 - l2), tol=tol)
    assert_ge(
        (0.375 * (l1 - l2)).abs(),
        tol.atol / (1 - tol.rtol),
        slack=EXACT,
        strict=True,
        msg="the derived miss of the plain mean loss is within the tolerance of 0",
    )


def _clipped(grad, max_norm):
    """What clip_grad_norm_ does to a gradient (PyTorch docs): times min(1, max_norm / (norm + 1e-6))."""
    return grad * min(1.0, max_norm / (grad.norm().item() + 1e-6))


def test_clip_once_after_the_last_micro_batch_not_after_each(device, figures):
    # clip_grad_norm_ acts on whatever .grad holds when it is called. After the last micro-batch's backward .grad is
    # the full batch's gradient (up to rounding), so clipping there gives the full batch's clipped gradient; clipping
    # after every backward rescales the partial sums instead: r_j = clip(r_{j-1} + g_j / k), another gradient
    k, m = 3, 3
    model, x, y = _setup(k * m, 29, device)
    tol = accumulation(torch.float64, k * m * OUT)
    full = _full_batch_mean_grad(model, x, y)
    parts = [_full_batch_mean_grad(model, cx, cy) / k for cx, cy in zip(x.split(m), y.split(m))]
    partial_sums = [sum(parts[: j + 1]) for j in range(k)]
    max_norm = 0.5 * min(p.norm().item() for p in partial_sums)  # so every clip below acts
    # once, after the last backward
    _accumulate(model, x, y, [m] * k, [1.0 / k] * k)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    once = flat_grad(model).clone()
    assert_close(once, _clipped(full, max_norm), tol=tol)
    # after every micro-batch's backward
    model.zero_grad(set_to_none=True)
    for cx, cy in zip(x.split(m), y.split(m)):
        (F.mse_loss(model(cx), cy) / k).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    each = flat_grad(model).clone()
    expected = torch.zeros_like(full)
    for part in parts:
        expected = _clipped(expected + part, max_norm)
    assert_close(each, expected, tol=tol)
    assert_ge(
        (expected - _clipped(full, max_norm)).abs().max(),
        tol.atol / (1 - tol.rtol),
        slack=EXACT,
        strict=True,
        msg="clipping after every micro-batch gave the full batch's clipped gradient",
    )
    figures.record(
        "clip after every micro-batch: ||g_each - g_once|| / ||g_once||",
        (each - once).norm() / once.norm(),
        "1",
        zh="每个 micro-batch 后都裁剪:||g_each - g_once|| / ||g_once||",
        measured_on="MLP 3-8-2 (tanh), MSELoss, 9 samples in 3 micro-batches of 3, max_norm half the "
        "smallest partial-sum norm",
        measured_on_zh="MLP 3-8-2(tanh),MSELoss,9 个样本分成 3 个大小为 3 的 micro-batch,"
        "max_norm 为最小部分和范数的一半",
    )


DROPOUT = 0.3


def _with_dropout(device):
    """The test's MLP with nn.Dropout(0.3) after its hidden tanh layer: Linear, Tanh, Dropout, Linear."""
    model, x, y = _setup(8, 23, device)
    layers = list(model)
    return torch.nn.Sequential(*layers[:2], torch.nn.Dropout(DROPOUT), *layers[2:]), x, y


def test_dropout_keeps_the_identity_in_eval_mode_and_mask_for_mask_in_train_mode(device, figures):
    sizes = (3, 5)
    model, x, y = _with_dropout(device)
    tol = accumulation(torch.float64, 8 * OUT)
    weights = [s / 8 for s in sizes]
    # eval mode: dropout is the identity, so the forward is a fixed function of each sample and the identity holds
    model.eval()
    assert_close(_accumulate(model, x, y, sizes, weights), _full_batch_mean_grad(model, x, y), tol=tol)
    # train mode: every forward draws new masks (PyTorch docs, nn.Dropout: zeroes elements with probability p and
    # scales the rest by 1 / (1 - p)). Record the micro-batches' masks (an output is 0 where its mask is; the tanh
    # outputs it multiplies are non-zero) and replay them in one full-batch forward: the same gradient
    model.train()
    dropout = model[2]
    masks = []
    recording = dropout.register_forward_hook(lambda mod, inp, out: masks.append(out != 0))
    accumulated = _accumulate(model, x, y, sizes, weights)
    recording.remove()
    mask = torch.cat(masks)
    assert 0 < mask.double().mean().item() < 1  # some units dropped, some kept
    replay = dropout.register_forward_hook(lambda mod, inp, out: inp[0] * mask / (1 - DROPOUT))
    assert_close(accumulated, _full_batch_mean_grad(model, x, y), tol=tol)
    replay.remove()
    # while a full-batch forward with masks of its own is another draw: its gradient differs
    fresh = _full_batch_mean_grad(model, x, y)
    rel = ((accumulated - fresh).norm() / fresh.norm()).item()
    # the masks are drawn from the per-test seed: each of the 8 x 8 mask entries differs between the two draws with
    # probability 2p(1 - p) = 0.42, and they agree everywhere with probability 0.58^64 ~ 1e-15; over 300 other
    # seeds rel was never below 0.16, 160 times this threshold
    assert rel > 1e-3
    figures.record(
        "dropout 0.3, train mode: ||accumulated - full-batch (own masks)|| / ||full-batch||",
        rel,
        "1",
        zh="dropout 0.3,训练模式:||累积 - 全 batch(各自的掩码)|| / ||全 batch||",
        measured_on=DROPOUT_ON,
        measured_on_zh=DROPOUT_ON_ZH,
    )
