"""coupling.batchnorm

What is true (confirmed):
- BatchNorm in train mode normalises with the batch's mean and (biased) variance, so each sample's output and loss
  depend on the other samples: its output changes when another sample changes.
- It cannot be run on one sample alone where a sample has one value per channel (BatchNorm1d on (N, C) inputs
  raises), while BatchNorm2d on one (1, C, H, W) sample normalises over its H x W positions.
- Per-sample gradients taken with the statistics held fixed do not sum to the batch gradient (the difference is the
  path through mu_B and sigma_B^2), and gradient accumulation over micro-batches differs from the full-batch
  gradient.
- Every train-mode forward, under no_grad too, updates the running statistics: r <- (1 - momentum) r + momentum s, s
  the batch mean for running_mean and the unbiased batch variance for running_var; momentum=None makes r the plain
  average of all batch statistics so far, and num_batches_tracked counts the forwards; so accumulating over k
  micro-batches in train mode moves the running statistics k times, with each micro-batch's statistics, and they end
  elsewhere than after one forward of the whole batch.
- In eval mode the layer normalises with these running statistics as constants: the samples are independent again
  and all of the identities above hold, micro-batch accumulation included.
- Micro-batch accumulation is exact (up to rounding) in either mode with GroupNorm or LayerNorm instead, since they
  normalise each sample over its own features.

Why: Ioffe & Szegedy 2015, Algorithm 1 (train: batch statistics) and Algorithm 2 (inference: population
statistics, with the unbiased variance m / (m - 1) Var_B); PyTorch docs, torch.nn.BatchNorm1d: "the standard-
deviation is calculated via the biased estimator", "the running estimates are kept with a default momentum of
0.1", "If track_running_stats is set to True, during training this layer keeps running estimates of its
computed mean and variance", the update x^_new = (1 - momentum) x^ + momentum x_t, "the running variance is
computed with the unbiased estimator", and momentum=None for a cumulative moving average (the factor is then
1 / num_batches_tracked, so the first batch replaces the initial 0 and 1 and the k-th gets weight 1/k). The
running-statistics test feeds batches of different sizes (so N / (N - 1) differs per batch, down to 2 at N = 2)
and compares with the recursion in float64; the biased variance would miss by a relative (N - 1)^-1 of a term.
Micro-batches: k train-mode forwards are k steps of that recursion, each with a micro-batch's own mean and unbiased
variance, so after two halves running_mean = (1 - m)^2 r_0 + m (1 - m) mu_1 + m mu_2 against (1 - m) r_0 + m mu
for one forward of the batch (mu the batch mean, mu_j the halves', so mu = (mu_1 + mu_2) / 2): the weights differ,
m (1 - m) and m on the halves' means against m / 2 each, and (1 - m)^2 against 1 - m on r_0.
PyTorch docs, torch.nn.GroupNorm: "The mean and standard-deviation are calculated separately over each group" of
each sample, and "This layer uses statistics computed from input data in both training and evaluation modes";
torch.nn.LayerNorm: the statistics are computed over the last D dimensions of each sample, in both modes as well.
A model whose every layer acts on one sample at a time has a batch gradient that is a sum of per-sample terms, so
micro-batch losses weighted by s_j / N add up to it (accumulation.micro-batches); the test splits 8 samples
unequally, into 3 and 5, in train and in eval mode.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.data import regression
from support.dependencies import cross_sample_dependencies
from support.gradients import batch_grads, flat_grad, per_sample_grads_loop
from support.models import batchnorm_net
from support.tensors import generator, seeded_init
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("coupling.batchnorm")
N, IN, WIDTH, OUT = 8, 3, 6, 2
# what the recorded numbers were measured on (the report shows it next to each)
NET = f"Linear-BatchNorm1d-ReLU-Linear net {IN}-{WIDTH}-{OUT}"
NET_ZH = f"Linear-BatchNorm1d-ReLU-Linear 网络 {IN}-{WIDTH}-{OUT}"
MEASURED_ON = f"{NET}, MSELoss, batch {N} in two halves of {N // 2}"
MEASURED_ON_ZH = f"{NET_ZH},MSELoss,batch 大小 {N},分成两个大小为 {N // 2} 的一半"


def _setup(device, seed=21):
    x, y = regression(N, IN, OUT, seed=seed, device=device)
    return batchnorm_net(IN, WIDTH, OUT, seed=seed, device=device), x, y


def _sum_loss(out, y):
    return F.mse_loss(out, y, reduction="sum")


@pytest.mark.claim("coupling.dependencies")  # the batch-mixing case of the dependency chart
def test_a_samples_output_depends_on_the_others_in_train_mode_only(device, figures):
    net, x, _ = _setup(device)
    moved, step = x.clone(), 3.0
    moved[5] += step  # move one sample of eight
    with torch.no_grad():
        net.train()
        shift_train = (net(moved)[0] - net(x)[0]).abs().max()
        net.eval()
        out_eval, out_eval_moved = net(x)[0], net(moved)[0]
    # Moving one of 8 samples by 3 moves every batch mean by 3 W[f] / 8, a fraction ~0.1-1 of a standard
    # deviation: sample 0's output moves by that order. 1e-3 is far below it and 1e12 times float64 rounding.
    assert shift_train > 1e-3
    assert_close(out_eval_moved, out_eval)  # eval: sample 0 does not see sample 5
    figures.record(
        "max |change of sample 0's output| when sample 5 moves (train)",
        shift_train,
        "output units",
        zh="样本 5 改变时,max |样本 0 输出的变化|(训练模式)",
        measured_on=f"{NET}, a batch of {N} regression inputs, sample 5 moved by {step:g} in every feature",
        measured_on_zh=f"{NET_ZH},{N} 个回归输入组成的 batch,样本 5 的每个特征移动 {step:g}",
    )
    # the dependency chart agrees: in train mode output i depends on every input j as soon as one of its
    # ReLUs after BatchNorm is active (a sample whose ReLUs are all off outputs the constant last bias);
    # in eval mode no pair is coupled
    with torch.no_grad():
        active = (net.train()[1](net[0](x)) > 0).any(dim=1)
    expected = [(i, j) for i in range(N) for j in range(N) if i != j and active[i]]
    assert cross_sample_dependencies(net.train(), x) == expected
    assert len(expected) >= N  # at least some samples are active, so the check is not vacuous
    assert cross_sample_dependencies(net.eval(), x) == []


def test_train_mode_cannot_run_on_one_sample_with_one_value_per_channel(device):
    # BatchNorm1d on (N, C): a channel of one sample is one value, which has no batch variance
    net, x, _ = _setup(device)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        net.train()(x[:1])
    assert net.eval()(x[:1]).shape == (1, OUT)


def test_train_mode_runs_on_one_sample_with_several_values_per_channel(device):
    # BatchNorm2d normalises each channel over its N x H x W values: one (1, C, H, W) sample still has H x W of
    # them, so train mode runs and uses that sample's own per-channel mean and biased variance over H x W
    c, h, w = 3, 4, 5
    bn = torch.nn.BatchNorm2d(c).to(device=device, dtype=torch.float64).train()
    with torch.no_grad():  # an affine map other than the identity, so that it is checked too
        bn.weight.copy_(torch.tensor([0.5, 2.0, -1.5], dtype=torch.float64))
        bn.bias.copy_(torch.tensor([0.25, -1.0, 3.0], dtype=torch.float64))
    g = generator(23)
    # per-channel offsets and spreads that differ, so normalising over the wrong axes would not pass
    x = (
        torch.randn(1, c, h, w, generator=g, dtype=torch.float64) * torch.tensor([0.5, 2.0, 4.0])[:, None, None]
        + torch.tensor([1.0, -3.0, 0.0])[:, None, None]
    ).to(device)
    out = bn(x)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # over H x W: the batch axis has length 1
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + bn.eps) * bn.weight[None, :, None, None] + bn.bias[None, :, None, None]
    assert_close(out, expected)
    assert bn.num_batches_tracked.item() == 1  # a real train-mode forward: the running statistics were updated


def test_per_sample_gradients_with_fixed_statistics_miss_the_path_through_the_statistics(device, figures):
    net, x, y = _setup(device)
    batch = batch_grads(net.train(), _sum_loss, x, y)
    # The bias of the Linear before BatchNorm shifts every sample and mu_B alike: it cancels in h - mu_B, so
    # the train-mode loss does not depend on it and its batch gradient is zero (Ioffe & Szegedy, sec. 3.2).
    assert_close(batch["0.bias"], torch.zeros_like(batch["0.bias"]))

    # The same function with mu_B and sigma_B^2 frozen as constants: eval mode with the running statistics
    # set to this batch's (biased) statistics reproduces the train-mode output exactly ...
    with torch.no_grad():
        h = net[0](x)
        out_train = net(x)
        net[1].running_mean.copy_(h.mean(dim=0))
        net[1].running_var.copy_(h.var(dim=0, unbiased=False))
    net.eval()
    assert_close(net(x), out_train)
    # ... but its per-sample gradients, which treat each sample alone, sum to a different gradient
    per_sample = per_sample_grads_loop(net, _sum_loss, x, y)
    summed = {name: g.sum(dim=0) for name, g in per_sample.items()}
    bias_norm = summed["0.bias"].norm()
    # with the statistics fixed the bias acts like any bias: gradient sum_i gamma/sigma * upstream_i, O(0.1-1)
    assert bias_norm > 1e-3
    gap = torch.cat([(summed[k] - batch[k]).reshape(-1) for k in batch]).norm()
    assert gap > 1e-3
    figures.record(
        "||sum of fixed-statistics per-sample grads of the pre-BN bias||",
        bias_norm,
        "gradient norm",
        zh="||BN 之前的偏置在固定统计量下的逐样本梯度之和||",
        measured_on=f"{NET}, sum-reduced MSELoss, batch {N}",
        measured_on_zh=f"{NET_ZH},sum 归约的 MSELoss,batch 大小 {N}",
    )
    figures.record(
        "||sum of fixed-statistics per-sample grads - batch grad||",
        gap,
        "gradient norm",
        zh="||固定统计量下的逐样本梯度之和 - batch 梯度||",
        measured_on=f"{NET}, sum-reduced MSELoss, batch {N}",
        measured_on_zh=f"{NET_ZH},sum 归约的 MSELoss,batch 大小 {N}",
    )


def test_eval_mode_per_sample_gradients_sum_to_the_batch_gradient(device):
    net, x, y = _setup(device)
    with torch.no_grad():
        net.train()(x)  # running statistics that are not the defaults 0 and 1
    net.eval()
    net.zero_grad(set_to_none=True)
    _sum_loss(net(x), y).backward()
    batch = flat_grad(net).clone()
    per_sample = per_sample_grads_loop(net, _sum_loss, x, y)
    summed = torch.cat([g.sum(dim=0).reshape(-1) for g in per_sample.values()])
    assert_close(summed, batch, tol=accumulation(batch.dtype, N))


def _norm_net(kind, device, seed=22):
    """Linear -> GroupNorm(3 groups) or LayerNorm -> ReLU -> Linear, with affine parameters away from 1 and 0."""
    with seeded_init(seed):
        norm = nn.GroupNorm(3, WIDTH) if kind == "groupnorm" else nn.LayerNorm(WIDTH)
        net = nn.Sequential(nn.Linear(IN, WIDTH), norm, nn.ReLU(), nn.Linear(WIDTH, OUT))
        nn.init.uniform_(norm.weight, 0.5, 2.0)
        nn.init.uniform_(norm.bias, -0.5, 0.5)
    return net.to(device=device, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["groupnorm", "layernorm"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_group_and_layer_norm_make_micro_batch_accumulation_exact_in_either_mode(kind, mode, device):
    net = _norm_net(kind, device).train(mode == "train")  # their statistics come from each sample in both modes
    _, x, y = _setup(device)
    net.zero_grad(set_to_none=True)
    F.mse_loss(net(x), y).backward()
    full = flat_grad(net).clone()
    net.zero_grad(set_to_none=True)
    sizes = (3, 5)  # unequal: each micro-batch's mean loss weighted by its share s_j / N
    for cx, cy in zip(x.split(sizes), y.split(sizes)):
        (F.mse_loss(net(cx), cy) * len(cx) / N).backward()
    assert_close(flat_grad(net), full, tol=accumulation(full.dtype, N * OUT))
    # and one sample's output does not depend on the others: a property of the layer, not of the split
    moved = x.clone()
    moved[5] += 3.0
    with torch.no_grad():
        assert_close(net(moved)[0], net(x)[0])


def test_micro_batch_forwards_move_the_running_statistics_once_each(device, figures):
    net, x, _ = _setup(device)
    bn = net[1]
    bn.momentum = 0.3
    with torch.no_grad():
        pre_bn = net[0](x)
    halves = pre_bn.chunk(2)
    # two train-mode forwards of the halves, as gradient accumulation does them ...
    net.train()
    with torch.no_grad():
        for half in x.chunk(2):
            net(half)
    assert bn.num_batches_tracked.item() == 2
    expected_mean, expected_var = _running_recursion(list(halves), 0.3)[-1]
    assert_close(bn.running_mean, expected_mean)
    assert_close(bn.running_var, expected_var)
    # ... against one forward of the whole batch, which one optimizer step of the full batch would do
    whole_mean, whole_var = _running_recursion([pre_bn], 0.3)[-1]
    gap = (bn.running_mean - whole_mean).abs().max()
    # from the initial 0: 0.7 * 0.3 mu_1 + 0.3 mu_2 against 0.3 (mu_1 + mu_2) / 2, a difference of 0.06 mu_1 +
    # 0.15 mu_2; the halves' feature means are ~0.1-1 (rows of norm ~0.5 times unit inputs, 4 samples), so the gap
    # is ~1e-2-1e-1 where they do not cancel; 1e-3 is far below that and 1e12 times float64 rounding
    assert gap > 1e-3
    figures.record(
        "max |running_mean after 2 micro-batch forwards - after 1 full forward|",
        gap,
        "feature units",
        zh="max |2 次 micro-batch 前向后的 running_mean - 1 次完整前向后的|",
        measured_on=f"{NET}, BatchNorm momentum {bn.momentum}, a batch of {N} regression inputs or its two halves",
        measured_on_zh=f"{NET_ZH},BatchNorm 的 momentum 为 {bn.momentum},{N} 个回归输入组成的 batch 或它的两半",
    )


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_micro_batch_accumulation_equals_the_full_batch_only_in_eval_mode(mode, device, figures):
    net, x, y = _setup(device)
    with torch.no_grad():
        net.train()(x)
    net.train(mode == "train")
    net.zero_grad(set_to_none=True)
    F.mse_loss(net(x), y).backward()
    full = flat_grad(net).clone()
    net.zero_grad(set_to_none=True)
    for cx, cy in zip(x.chunk(2), y.chunk(2)):
        (F.mse_loss(net(cx), cy) / 2).backward()
    accumulated = flat_grad(net)
    if mode == "eval":
        assert_close(accumulated, full, tol=accumulation(full.dtype, N))
    else:
        # each half is normalised with its own 4-sample statistics, which differ from the 8-sample ones by
        # ~1/sqrt(4) of a standard deviation: an O(10 %) change of the gradient; we require 0.1 %
        rel = (accumulated - full).norm() / full.norm()
        assert rel > 1e-3
        figures.record(
            "||accumulated - full|| / ||full||, BatchNorm train mode, 2 halves",
            rel,
            "1",
            zh="||accumulated - full|| / ||full||,BatchNorm 训练模式,分成两半",
            measured_on=MEASURED_ON,
            measured_on_zh=MEASURED_ON_ZH,
        )


BATCH_SIZES = (4, 9, 2, 6)  # different N, so the unbiased factor N / (N - 1) differs per batch (2 at N = 2)


def _running_recursion(pre_bn_batches, momentum, unbiased=True):
    """Documented running mean and variance after each train-mode forward, from the initial 0 and 1."""
    width = pre_bn_batches[0].shape[1]
    mean = torch.zeros(width, dtype=torch.float64, device=pre_bn_batches[0].device)
    var = torch.ones_like(mean)
    out = []
    for k, h in enumerate(pre_bn_batches, start=1):
        f = 1.0 / k if momentum is None else momentum  # None: cumulative average, factor 1 / num_batches_tracked
        mean = (1 - f) * mean + f * h.mean(dim=0)
        var = (1 - f) * var + f * h.var(dim=0, unbiased=unbiased)
        out.append((mean, var))
    return out


@pytest.mark.parametrize("momentum", [0.3, None], ids=["momentum-0.3", "momentum-None"])
def test_running_statistics_follow_the_documented_update_and_eval_mode_uses_them(momentum, device, figures):
    net, _, _ = _setup(device)
    bn = net[1]
    bn.momentum = momentum
    batches = [regression(n, IN, OUT, seed=40 + k, device=device)[0] for k, n in enumerate(BATCH_SIZES)]
    with torch.no_grad():  # the layer does not need autograd to update its statistics
        pre_bn = [net[0](x) for x in batches]
    expected = _running_recursion(pre_bn, momentum)
    biased = _running_recursion(pre_bn, momentum, unbiased=False)
    net.train()
    for k, x in enumerate(batches):
        with torch.no_grad():
            net(x)
        assert bn.num_batches_tracked.item() == k + 1
        assert_close(bn.running_mean, expected[k][0])
        assert_close(bn.running_var, expected[k][1])
        # the biased variance (the one the layer normalises with) is not what it keeps: each batch term of the
        # unbiased recursion is N / (N - 1) >= 6/5 times the biased one, a relative gap of
        # f s_B / (N - 1) / r: for the features with batch variance s_B ~ 0.1-1 (the Linear's rows have norm
        # ~0.5) that is >= 0.3 * 0.1 / 8 / 1.3 ~ 3e-3 at momentum 0.3, more with momentum None (f = 1 / k).
        # 1e-3 is 1e12 times float64 rounding.
        assert not torch.allclose(bn.running_var, biased[k][1], rtol=1e-3, atol=0)
    if momentum is None:  # the cumulative average is the plain mean of the per-batch statistics
        assert_close(bn.running_mean, torch.stack([h.mean(dim=0) for h in pre_bn]).mean(dim=0))
    # eval: a fresh batch is normalised with the running statistics, not with its own
    x_eval = regression(5, IN, OUT, seed=60, device=device)[0]
    net.eval()
    with torch.no_grad():
        h = net[0](x_eval)
        out = bn(h)
        own = (h - h.mean(dim=0)) / torch.sqrt(h.var(dim=0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    mean, var = expected[-1]
    assert_close(out, (h - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias)
    assert (out - own).abs().max() > 1e-3  # 5 samples' own statistics differ from the running ones at O(0.1-1)
    assert bn.num_batches_tracked.item() == len(BATCH_SIZES)  # eval forwards do not count
    gap = ((bn.running_var - biased[-1][1]).abs() / biased[-1][1]).max().item()
    figures.record(
        f"running_var vs the biased recursion, momentum={momentum}: largest relative gap",
        gap,
        "1",
        zh=f"running_var 与有偏递推之比较,momentum={momentum}:最大相对差",
        measured_on=f"{NET}, train-mode forwards of regression batches of sizes {BATCH_SIZES}",
        measured_on_zh=f"{NET_ZH},在大小依次为 {BATCH_SIZES} 的回归 batch 上做训练模式前向",
    )
