"""coupling.batchnorm

What is true: in train mode BatchNorm normalises each feature with the batch's mean mu_B and (biased)
variance sigma_B^2 (Ioffe & Szegedy 2015, Algorithm 1; PyTorch docs, torch.nn.BatchNorm1d), so a sample's
output and loss depend on every other sample of the batch: its output moves when another sample moves,
the layer refuses a batch of one, the gradient has a path through mu_B and sigma_B^2 that per-sample
gradients taken with the statistics held fixed do not have (so those do not sum to the batch gradient;
e.g. the bias before BatchNorm gets exactly zero batch gradient, Ioffe & Szegedy sec. 3.2), and
accumulating gradients over micro-batches is not the full-batch gradient. In eval mode the running
statistics are constants: the samples are independent again and these identities hold.
"""

import pytest
import torch
import torch.nn.functional as F

from support.data import regression
from support.dependencies import cross_sample_dependencies
from support.gradients import batch_grads, flat_grad, per_sample_grads_loop
from support.models import batchnorm_net
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("coupling.batchnorm")
N, IN, WIDTH, OUT = 8, 3, 6, 2


def _setup(device, seed=21):
    x, y = regression(N, IN, OUT, seed=seed, device=device)
    return batchnorm_net(IN, WIDTH, OUT, seed=seed, device=device), x, y


def _sum_loss(out, y):
    return F.mse_loss(out, y, reduction="sum")


@pytest.mark.claim("coupling.dependencies")  # the batch-mixing case of the dependency chart
def test_a_samples_output_depends_on_the_others_in_train_mode_only(device, figures):
    net, x, _ = _setup(device)
    moved = x.clone()
    moved[5] += 3.0  # move one sample of eight
    with torch.no_grad():
        net.train()
        shift_train = (net(moved)[0] - net(x)[0]).abs().max()
        net.eval()
        out_eval, out_eval_moved = net(x)[0], net(moved)[0]
    # Moving one of 8 samples by 3 moves every batch mean by 3 W[f] / 8, a fraction ~0.1-1 of a standard
    # deviation: sample 0's output moves by that order. 1e-3 is far below it and 1e12 times float64 rounding.
    assert shift_train > 1e-3
    assert_close(out_eval_moved, out_eval)  # eval: sample 0 does not see sample 5
    figures.record("max |change of sample 0's output| when sample 5 moves (train)", shift_train, "output units")
    # the dependency chart agrees: in train mode output i depends on every input j as soon as one of its
    # ReLUs after BatchNorm is active (a sample whose ReLUs are all off outputs the constant last bias);
    # in eval mode no pair is coupled
    with torch.no_grad():
        active = (net.train()[1](net[0](x)) > 0).any(dim=1)
    expected = [(i, j) for i in range(N) for j in range(N) if i != j and active[i]]
    assert cross_sample_dependencies(net.train(), x) == expected
    assert len(expected) >= N  # at least some samples are active, so the check is not vacuous
    assert cross_sample_dependencies(net.eval(), x) == []


def test_train_mode_cannot_run_on_one_sample(device):
    net, x, _ = _setup(device)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        net.train()(x[:1])
    assert net.eval()(x[:1]).shape == (1, OUT)


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
    figures.record("||sum of fixed-statistics per-sample grads of the pre-BN bias||", bias_norm, "gradient norm")
    figures.record("||sum of fixed-statistics per-sample grads - batch grad||", gap, "gradient norm")


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
        figures.record("||accumulated - full|| / ||full||, BatchNorm train mode, 2 halves", rel, "1")
