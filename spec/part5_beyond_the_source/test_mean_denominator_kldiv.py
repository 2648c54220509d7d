"""mean.denominator.kldiv

What is true: KLDivLoss takes the input as log-probabilities log q and computes the pointwise terms
p (log p - log q) (0 where p = 0). reduction='mean' divides their sum by the number of elements N x C and
warns that this is not the KL divergence; reduction='batchmean' divides by the batch size N and equals the
average over samples of the mathematical KL(p || q) = sum_c p_c log(p_c / q_c) (PyTorch docs,
torch.nn.KLDivLoss). So 'mean' is the true KL divided by C; 'batchmean' is non-negative and zero exactly
when q = p (Gibbs' inequality).
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("mean.denominator.kldiv")


def _distributions(n, c, seed, device):
    g = torch.Generator().manual_seed(seed)
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
    log_q, p = _distributions(3, 5, 2, device)
    assert_close(F.kl_div(torch.log(p), p, reduction="batchmean"), torch.zeros((), dtype=EXACT_DTYPE, device=device))
    # p with zeros: 0 log 0 is taken as 0, so the loss is finite and equals the sum over the support of p
    p0 = torch.tensor([[0.5, 0.5, 0.0, 0.0, 0.0]], dtype=EXACT_DTYPE, device=device)
    expected = (0.5 * (torch.log(torch.tensor(0.5, dtype=EXACT_DTYPE)) - log_q[0, :2].cpu())).sum().to(device)
    assert_close(F.kl_div(log_q[:1], p0, reduction="batchmean"), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mean = F.kl_div(log_q, p, reduction="mean")
    figures.record("KLDiv batchmean / mean (C = 5)", F.kl_div(log_q, p, reduction="batchmean") / mean, "1")
