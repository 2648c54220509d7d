"""mean.denominator.kldiv

What is true (confirmed):
- KLDivLoss takes its input as log-probabilities log q and sums the pointwise terms p (log p - log q) (0 where p =
  0).
- reduction='mean' divides that sum by the number of elements and warns (UserWarning) that this is not the KL
  divergence; reduction='batchmean' divides by the batch size, the input's first dimension, only.
- For (N, C) inputs 'batchmean' is the average over samples of the mathematical KL(p || q) = sum_c p_c log(p_c /
  q_c), and 'mean' is that divided by C.
- For sequence inputs (N, T, C), with the distributions over the last dimension, 'batchmean' still divides by N
  only: it is T times the per-position mean KL, with T times its gradient, while 'mean' divides by N x T x C.
- The per-position mean KL is reduction='sum' divided by N x T, or 'batchmean' on the input flattened to (N x T, C).

Why: the PyTorch docs (torch.nn.KLDivLoss) define 'batchmean' as the sum divided by the batch size,
input.size(0), and say it aligns with the mathematical KL divergence; that holds per sample when a sample is one
distribution. A language model's (N, T, C) output holds N x T distributions, and dim 0 counts only N of them,
so 'batchmean' there is sum_{n,t} KL_{n,t} / N = T * (sum_{n,t} KL_{n,t} / (N T)): at T = 5, five times the
per-position mean. Its gradient is T times the per-position mean's too, so an SGD step (or a mix with a
per-token cross-entropy) is scaled by the sequence length. KL >= 0 with equality exactly when q = p (Gibbs'
inequality). The tests compare with the KL written from its definition in float64 (hypothesis over N, T, C),
with accumulation(float64, number of terms) as tolerance, and measure the ratio and the gradient at T = 5.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.tensors import generator, maker
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("mean.denominator.kldiv")


def _distributions(n, c, seed, device):
    g = generator(seed)
    log_q = torch.log_softmax(torch.randn(n, c, generator=g, dtype=EXACT_DTYPE), dim=1).to(device)
    p = torch.softmax(torch.randn(n, c, generator=g, dtype=EXACT_DTYPE), dim=1).to(device)
    return log_q, p


def _kl_by_definition(p, log_q):
    """KL(p || q) per sample, sum_c p_c (log p_c - log q_c), written from the definition."""
    return (p * (torch.log(p) - log_q)).sum(dim=1)


@given(n=hh.batch_sizes(1, 10), c=st.integers(2, 8), seed=hh.seeds())
def test_batchmean_is_the_kl_divergence_and_mean_is_it_divided_by_c(n, c, seed, device):
    log_q, p = _distributions(n, c, seed, device)
    kl = _kl_by_definition(p, log_q)
    tol = accumulation(EXACT_DTYPE, n * c)
    batchmean = F.kl_div(log_q, p, reduction="batchmean")
    assert_close(batchmean, kl.mean(), tol=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the warning itself is the next test's subject
        mean = F.kl_div(log_q, p, reduction="mean")
    assert_close(mean, kl.sum() / (n * c), tol=tol)
    assert_close(mean * c, batchmean, tol=tol)
    # log_target=True takes log p instead of p: the same numbers
    assert_close(F.kl_div(log_q, torch.log(p), reduction="batchmean", log_target=True), batchmean, tol=tol)
    assert batchmean >= 0  # Gibbs' inequality


def test_mean_warns_and_batchmean_does_not(device):
    log_q, p = _distributions(4, 3, 1, device)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(log_q, p, reduction="mean")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        F.kl_div(log_q, p, reduction="batchmean")


def test_kl_of_a_distribution_with_itself_is_zero_and_zero_probabilities_contribute_nothing(device, figures):
    make = maker(device, EXACT_DTYPE)
    log_q, p = _distributions(3, 5, 2, device)
    assert_close(F.kl_div(torch.log(p), p, reduction="batchmean"), make.tensor(0.0))
    # p with zeros: 0 log 0 is taken as 0, so the loss is finite and equals the sum over the support of p
    p0 = make.tensor([[0.5, 0.5, 0.0, 0.0, 0.0]])
    expected = (0.5 * (torch.log(torch.tensor(0.5, dtype=EXACT_DTYPE)) - log_q[0, :2].cpu())).sum().to(device)
    assert_close(F.kl_div(log_q[:1], p0, reduction="batchmean"), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mean = F.kl_div(log_q, p, reduction="mean")
    figures.record(
        "KLDiv batchmean / mean (C = 5)",
        F.kl_div(log_q, p, reduction="batchmean") / mean,
        "1",
        zh="KLDiv 的 batchmean / mean(C = 5)",
    )


@given(n=hh.batch_sizes(1, 6), t=st.integers(1, 6), c=st.integers(2, 5), seed=hh.seeds())
def test_batchmean_of_sequences_divides_by_n_only_summing_the_kl_over_positions(n, t, c, seed, device):
    g = generator(seed)
    log_q = torch.log_softmax(torch.randn(n, t, c, generator=g, dtype=EXACT_DTYPE), dim=-1).to(device)
    p = torch.softmax(torch.randn(n, t, c, generator=g, dtype=EXACT_DTYPE), dim=-1).to(device)
    kl = (p * (torch.log(p) - log_q)).sum(dim=-1)  # (N, T): one KL per position, from the definition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mean = F.kl_div(log_q, p, reduction="mean")
    actual = torch.stack(
        [
            F.kl_div(log_q, p, reduction="batchmean"),  # divides by dim 0 only: the T positions are summed
            F.kl_div(log_q, p, reduction="batchmean") / t,  # so it is T times the per-position mean
            mean,
            F.kl_div(log_q, p, reduction="sum") / (n * t),  # the per-position mean, two ways
            F.kl_div(log_q.reshape(n * t, c), p.reshape(n * t, c), reduction="batchmean"),
        ]
    )
    expected = torch.stack([kl.sum() / n, kl.mean(), kl.sum() / (n * t * c), kl.mean(), kl.mean()])
    assert_close(actual, expected, tol=accumulation(EXACT_DTYPE, n * t * c))


def test_batchmean_at_five_positions_is_five_times_the_per_position_mean_and_so_is_its_gradient(device, figures):
    n, t, c = 4, 5, 6
    g = generator(8)
    log_q = torch.log_softmax(torch.randn(n, t, c, generator=g, dtype=EXACT_DTYPE), dim=-1).to(device)
    p = torch.softmax(torch.randn(n, t, c, generator=g, dtype=EXACT_DTYPE), dim=-1).to(device)
    log_q.requires_grad_(True)
    batchmean = F.kl_div(log_q, p, reduction="batchmean")
    per_position = F.kl_div(log_q.reshape(n * t, c), p.reshape(n * t, c), reduction="batchmean")
    (g_batchmean,) = torch.autograd.grad(batchmean, log_q)
    (g_per_position,) = torch.autograd.grad(per_position, log_q)
    tol = accumulation(EXACT_DTYPE, n * t * c)
    assert_close(batchmean / per_position, maker(device, EXACT_DTYPE).tensor(float(t)), tol=tol)
    # d/d log q of sum p (log p - log q) / D is -p / D: D = N for 'batchmean', N x T per position
    assert_close(g_batchmean, -p / n)
    assert_close(g_batchmean, t * g_per_position)
    figures.record(
        "KLDiv batchmean / per-position mean KL, (N, T, C) input at T = 5",
        batchmean / per_position,
        "1",
        zh="KLDiv 的 batchmean / 每个位置的平均 KL,(N, T, C) 输入,T = 5",
    )
