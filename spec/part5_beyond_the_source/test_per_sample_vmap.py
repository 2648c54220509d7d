"""per-sample.vmap

What is true (qualified):
- For a model that does not couple samples, torch.func.vmap over torch.func.grad of one sample's loss returns the
  same per-sample gradients as a loop of N backward passes, and they sum to the gradient of the sum-reduced batch
  loss.
- BatchNorm in train mode fails under grad/vmap (the in-place update of its running statistics is rejected, and
  without running statistics a sample with one value per channel, BatchNorm1d on (N, C), has no variance); in eval
  mode it works.
- After torch.func.replace_all_batch_norm_modules_ (which stops tracking running statistics) it runs in train mode
  where a sample has several values per channel (BatchNorm2d: each sample normalised by its own statistics over H x
  W, as a loop of single-sample forwards does), while BatchNorm1d on (N, C) inputs still raises.
- Random operations such as dropout raise under vmap's default randomness='error' unless randomness='different' (an
  independent mask per sample) or 'same' (one mask shared by all samples) is chosen.
- Two independent implementations agree with both to float64 rounding: PyTorch's ExpandedWeights and Opacus'
  GradSampleModule, on an MLP, the per-sample-gradients tutorial's SimpleCNN and a model of Embedding, LayerNorm and
  GroupNorm layers.

Why: PyTorch tutorial, Per-sample-gradients: vmap(grad(f)) over the batch dimension computes one gradient per sample
without a Python loop. Hypothesis compares vmap, a loop of single-sample backward passes and the batch gradient of
the summed cross-entropy for N up to 8; for a linear model with mean MSE over D_out outputs the per-sample gradients
equal the hand formula 2 r x^T / D_out and 2 r / D_out. torch.func UX limitations ("Patching Batch Norm"): in train
mode BatchNorm's in-place update of the captured running_mean raises a RuntimeError under grad, and with
track_running_stats=False each vmapped call sees a batch of one and raises a ValueError ("more than 1 value per
channel"); in eval mode vmap agrees with the loop. replace_all_batch_norm_modules_ sets exactly
track_running_stats=False (and drops the buffers), so it lifts the first failure but not the second: BatchNorm1d
after it still raises, while BatchNorm2d has H x W values per channel in each sample and runs. Dropout under the
default randomness='error' raises; with identical inputs 'same' gives every row one mask (and identical per-sample
gradients), 'different' independent masks (all 8 rows equal would have probability 2^-112). The peers
(support.gradients.per_sample_grads_expanded_weights and per_sample_grads_opacus) compute the same quantity another
way, in one batch forward and backward with per-layer rules for Linear, Conv2d, Embedding, LayerNorm and GroupNorm,
so agreement on all four is evidence about each of them; Opacus is an optional dependency (the dev extra), and its
cases skip with that reason when it is absent.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.func import vmap

from support import hypothesis_helpers as hh
from support.data import classification, regression
from support.gradients import (
    batch_grads,
    per_sample_grads_expanded_weights,
    per_sample_grads_loop,
    per_sample_grads_opacus,
    per_sample_grads_vmap,
)
from support.models import batchnorm_net, embedding_norm_net, linear_model, mlp, simple_cnn
from support.tensors import generator, maker, seeded_init
from support.tolerances import accumulation, assert_close, override

pytestmark = pytest.mark.claim("per-sample.vmap")


def _sum_ce(out, y):
    return F.cross_entropy(out, y, reduction="sum")


@given(n=hh.batch_sizes(1, 8), seed=st.integers(0, 10_000))
def test_vmap_per_sample_gradients_equal_the_loop_and_sum_to_the_batch_gradient(n, seed, device):
    x, y = classification(n, 3, 3, seed=seed, device=device)
    model = mlp(3, 8, 3, depth=2, activation="tanh", seed=seed, device=device)
    by_vmap = per_sample_grads_vmap(model, _sum_ce, x, y)
    by_loop = per_sample_grads_loop(model, _sum_ce, x, y)
    batch = batch_grads(model, _sum_ce, x, y)
    for name, g in by_vmap.items():
        assert g.shape == (n, *dict(model.named_parameters())[name].shape)
        assert_close(g, by_loop[name])
        assert_close(g.sum(dim=0), batch[name], tol=accumulation(g.dtype, n))


def test_vmap_per_sample_gradients_match_the_hand_formula_of_a_linear_model(device, figures):
    # one sample, loss = mean_o (w_o . x + b_o - y_o)^2 over D_out = 2 outputs: with r = w x + b - y,
    # d/dw = 2 r x^T / D_out and d/db = 2 r / D_out
    n, d_in, d_out = 5, 3, 2
    x, y = regression(n, d_in, d_out, seed=7, device=device)
    model = linear_model(d_in, d_out, seed=7, device=device)
    g = per_sample_grads_vmap(model, F.mse_loss, x, y)
    with torch.no_grad():
        r = model(x) - y
    assert_close(g["weight"], 2 * r[:, :, None] * x[:, None, :] / d_out)
    assert_close(g["bias"], 2 * r / d_out)
    figures.record(
        "max |vmap - hand formula| (linear, weight)",
        (g["weight"] - 2 * r[:, :, None] * x[:, None, :] / d_out).abs().max(),
        "gradient units",
        zh="max |vmap - 手推公式|(线性模型,weight)",
        measured_on=f"nn.Linear({d_in}, {d_out}), MSELoss, {n} regression samples",
        measured_on_zh=f"nn.Linear({d_in}, {d_out}),MSELoss,{n} 个回归样本",
    )


def test_batchnorm_in_train_mode_is_a_documented_limit(device):
    x, y = regression(6, 3, 2, seed=8, device=device)
    net = batchnorm_net(3, 4, 2, seed=8, device=device)
    # with running statistics: the in-place update of the captured running_mean is rejected under grad
    with pytest.raises(RuntimeError, match="in-place"):
        per_sample_grads_vmap(net.train(), F.mse_loss, x, y)
    # without them: each vmapped call sees one sample, whose single value per channel (BatchNorm1d on (N, C)) has no
    # variance
    no_stats = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False)).to(device, torch.float64)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        per_sample_grads_vmap(no_stats.train(), lambda out, t: out.sum(), x, y)
    # eval mode (running statistics as constants): vmap works and agrees with the loop
    net.eval()
    by_vmap = per_sample_grads_vmap(net, F.mse_loss, x, y)
    by_loop = per_sample_grads_loop(net, F.mse_loss, x, y)
    for name in by_vmap:
        assert_close(by_vmap[name], by_loop[name])


def test_replace_all_batch_norm_modules_leaves_batchnorm1d_on_n_c_inputs_failing_under_vmap(device):
    # BatchNorm1d on (N, C): after the replacement there is no running-statistics update left to reject, but each
    # vmapped call still normalises one sample's C values, one per channel
    x, y = regression(6, 3, 2, seed=8, device=device)
    net = batchnorm_net(3, 4, 2, seed=8, device=device).train()
    torch.func.replace_all_batch_norm_modules_(net)
    assert net[1].running_mean is None and not net[1].track_running_stats and net.training
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        per_sample_grads_vmap(net, F.mse_loss, x, y)


def test_replace_all_batch_norm_modules_lets_vmap_run_batchnorm2d_in_train_mode(device):
    # a conv net with BatchNorm2d: each sample alone still has H x W values per channel to normalise over
    with seeded_init(0):
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    model = model.to(device=device, dtype=torch.float64).train()
    x = maker(device).randn(4, 1, 6, 6, seed=64)
    y = torch.tensor([0, 1, 1, 0], device=device)
    with pytest.raises(RuntimeError, match="in-place"):  # the running-statistics update, rejected under grad
        per_sample_grads_vmap(model, F.cross_entropy, x, y)
    torch.func.replace_all_batch_norm_modules_(model)
    assert model[1].running_mean is None and not model[1].track_running_stats and model.training
    by_vmap = per_sample_grads_vmap(model, F.cross_entropy, x, y)
    by_loop = per_sample_grads_loop(model, F.cross_entropy, x, y)  # each sample normalised on its own
    for name, g in by_loop.items():
        assert_close(by_vmap[name], g)


def test_dropout_needs_an_explicit_randomness_mode(device):
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5)).to(device, torch.float64).train()
    x = torch.ones(8, 4, dtype=torch.float64, device=device)
    y = torch.zeros(8, dtype=torch.float64, device=device)  # the helper takes targets; this loss ignores them

    def output_sum(out, _target):
        return out.sum()

    with pytest.raises(RuntimeError, match="randomness"):
        per_sample_grads_vmap(model, output_sum, x, y)  # the default randomness="error"

    def masks(randomness):
        # identical inputs, so any difference between rows is the dropout mask
        return vmap(lambda xi: model(xi.unsqueeze(0)).squeeze(0) != 0, randomness=randomness)(x)

    same, different = masks("same"), masks("different")
    assert (same == same[0]).all()
    # independent masks of 16 units: rows 1..7 all equal to row 0 has probability 2^(-16*7)
    assert not (different == different[0]).all()
    # and the per-sample gradients follow: with one shared mask they are all equal for identical inputs
    g_same = per_sample_grads_vmap(model, output_sum, x, y, randomness="same")
    assert (g_same["0.weight"] == g_same["0.weight"][0]).all()


# the three models of the peer cross-check, each with a small batch: (model, inputs, targets)
PEER_MODELS = {
    "mlp": lambda device: (
        mlp(5, 8, 3, depth=3, activation="tanh", seed=61, device=device),
        maker(device).randn(4, 5, seed=61),
        torch.tensor([0, 2, 1, 2], device=device),
    ),
    "simple-cnn": lambda device: (
        simple_cnn(seed=62, device=device),
        maker(device).randn(2, 1, 28, 28, seed=62),
        torch.tensor([3, 7], device=device),
    ),
    "embedding-layernorm-groupnorm": lambda device: (
        embedding_norm_net(seed=63, device=device),
        torch.randint(0, 20, (4, 6), generator=generator(63)).to(device),
        torch.tensor([0, 3, 1, 2], device=device),
    ),
}
PEERS = {"expanded-weights": per_sample_grads_expanded_weights, "opacus": per_sample_grads_opacus}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("model_name", PEER_MODELS)
def test_independent_implementations_give_the_same_per_sample_gradients(device, model_name, peer, figures):
    if peer == "opacus":
        pytest.importorskip("opacus", reason="Opacus (dev extra) is not installed")
    model, x, y = PEER_MODELS[model_name](device)
    by_peer = PEERS[peer](model, F.cross_entropy, x, y)
    by_loop = per_sample_grads_loop(model, F.cross_entropy, x, y)
    by_vmap = per_sample_grads_vmap(model, F.cross_entropy, x, y)
    # the peers form each per-sample gradient as a product of the layer's input and output gradient, summed over
    # positions (conv, tokens) in another order than autograd: float64 sums of up to n = 26 x 26 = 676 terms, each
    # off by at most about n eps = 676 x 2.2e-16 ~ 1.5e-13 relative (Higham, sec. 4.2), rounded up to 1e-12; the atol,
    # 1e-12 of the tensor's largest entry, covers entries that cancel to near 0. float32 anywhere (eps 1.2e-7) fails.
    worst = 0.0
    for name, g in by_loop.items():
        tol = override(
            rtol=1e-12,
            atol=1e-12 * g.abs().max().item(),
            reason=(
                "float64 sums of up to 676 products in another order: 676 x eps 2.2e-16 ~ 1.5e-13, rounded up to "
                "1e-12, relative to each entry and to the tensor's largest"
            ),
        )
        assert by_peer[name].shape == g.shape, name
        assert_close(by_peer[name], g, tol=tol, msg=f"{peer} vs loop, {name}")
        assert_close(by_vmap[name], g, tol=tol, msg=f"vmap vs loop, {name}")
        worst = max(worst, ((by_peer[name] - g).abs().max() / g.abs().max().clamp_min(1e-300)).item())
    parameters = sum(p.numel() for p in model.parameters())
    figures.record(
        f"{model_name}: largest |{peer} - loop| / max |loop|",
        worst,
        "1",
        zh=f"{model_name}:最大的 |{peer} - loop| / max |loop|",
        measured_on=f"{parameters} parameters, a batch of {len(y)} inputs of shape {tuple(x.shape[1:])}, cross-entropy",
        measured_on_zh=f"{parameters} 个参数,大小为 {len(y)} 的 batch,输入形状 {tuple(x.shape[1:])},交叉熵",
    )
