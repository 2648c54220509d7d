"""explosion.single-sample

Source: 「为什么对单个样本的Loss进行反向传播容易造成梯度爆炸?」
「对单个样本进行反向传播时,模型只考虑该样本的损失,从而可能导致较大的梯度更新」
「相比之下,在一个batch上计算损失并进行反向传播,可以通过平均化多个样本的损失来抑制这种剧烈变化。」

What is true (qualified): a single-sample gradient is a noisier estimate of the batch gradient, not a larger
one in expectation. The batch-mean gradient is never longer than the average single-sample gradient,
||mean_i g_i|| <= mean_i ||g_i|| (triangle inequality). Averaging B samples drawn with replacement leaves the
expectation unchanged and divides the covariance by B: E||g_B - mu||^2 = tr(Sigma) / B, a log-log slope of -1
(McCandlish et al. 2018, sec. 2). Averaging damps the noise of the update; it is not a cure for explosion,
whose causes (weights, depth, learning rate; see explosion.cause.*) act on the batch gradient as well.
"""

import functools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support.data import classification
from support.explosion import fit_log_slope, slope_standard_error
from support.gradients import flat_grad, per_sample_grads_vmap
from support.models import mlp
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("explosion.single-sample")
N = 64


def _ce(out, y):
    return torch.nn.functional.cross_entropy(out, y)


@functools.lru_cache(maxsize=4)
def _per_sample(device: str):
    """(model, x, y, G): G[i] is the flat gradient of sample i's loss, computed once per device."""
    x, y = classification(N, 4, 3, seed=51, device=device)
    model = mlp(4, 8, 3, depth=2, activation="tanh", seed=51, device=device)
    grads = per_sample_grads_vmap(model, _ce, x, y)
    return model, x, y, torch.cat([g.reshape(N, -1) for g in grads.values()], dim=1)


@given(indices=st.lists(st.integers(0, N - 1), min_size=2, max_size=16, unique=True))
def test_batch_gradient_is_the_mean_of_per_sample_gradients_and_no_longer_than_their_mean_norm(device, indices):
    model, x, y, G = _per_sample(device)
    idx = torch.tensor(indices, device=x.device)
    model.zero_grad(set_to_none=True)
    _ce(model(x[idx]), y[idx]).backward()
    batch = flat_grad(model)
    assert_close(batch, G[idx].mean(dim=0), tol=accumulation(batch.dtype, len(indices)))
    mean_of_norms = G[idx].norm(dim=1).mean()
    assert batch.norm() <= mean_of_norms * (1 + 1e-12)  # triangle inequality (+ rounding)


def test_averaging_pairs_leaves_the_expectation_unchanged(device):
    # the mean over all N^2 ordered pairs (i, j) drawn with replacement of (g_i + g_j) / 2 is exactly mu
    _, _, _, G = _per_sample(device)
    pair_means = (G[:, None, :] + G[None, :, :]) / 2
    assert_close(pair_means.reshape(N * N, -1).mean(dim=0), G.mean(dim=0), tol=accumulation(G.dtype, N * N))


def test_variance_of_the_batch_mean_gradient_falls_as_one_over_b(device, figures):
    _, _, _, G = _per_sample(device)
    mu = G.mean(dim=0)
    total_var = ((G - mu) ** 2).sum(dim=1).mean().item()  # tr(Sigma) of the empirical distribution
    sizes, draws = (1, 2, 4, 8, 16, 32), 3000
    gen = torch.Generator().manual_seed(52)
    measured, variances_of_log = [], []
    for b in sizes:
        idx = torch.randint(0, N, (draws, b), generator=gen).to(G.device)
        sq = ((G[idx].mean(dim=1) - mu) ** 2).sum(dim=1)  # ||g_B - mu||^2, one per draw
        v, se = sq.mean().item(), (sq.std() / math.sqrt(draws)).item()
        expected = total_var / b  # draws with replacement are iid: Cov(g_B) = Sigma / B exactly
        # 5 standard errors of the Monte Carlo mean (estimated from the draws themselves)
        assert abs(v - expected) <= 5 * se, f"B={b}: {v:.4g} vs tr(Sigma)/B = {expected:.4g} +- {5 * se:.3g}"
        measured.append(v)
        variances_of_log.append((se / v) ** 2)  # delta method: Var log v = (se / v)^2
    fit = fit_log_slope([math.log(b) for b in sizes], measured)
    slope_se = slope_standard_error([math.log(b) for b in sizes], variances_of_log)
    assert abs(fit.slope + 1) <= 5 * slope_se, f"log-log slope {fit.slope:.3f}, expected -1 +- {5 * slope_se:.3f}"
    figures.record("log-log slope of E||g_B - mu||^2 vs B", fit.slope, "1")
    figures.record("tr(Sigma): variance of a single-sample gradient", total_var, "gradient norm^2")
    figures.record("mean ||g_i|| / ||mu|| (single-sample vs batch gradient length)",
                   G.norm(dim=1).mean() / mu.norm(), "1")
    tag = "" if device == "cpu" else f" ({device})"  # a run on cpu and cuda draws both
    labels = dict(plot="variance of the batch-mean gradient vs batch size", x_label="batch size B (samples)",
                  y_label="E||g_B - mu||^2 (squared gradient norm)", log_x=True, log_y=True)
    figures.series(f"measured, {draws} draws per B{tag}", sizes, measured, style="points", **labels)
    figures.series(f"fit: slope {fit.slope:.3f}{tag}", sizes, [math.exp(fit.predict(math.log(b))) for b in sizes],
                   style="dashed", **labels)
