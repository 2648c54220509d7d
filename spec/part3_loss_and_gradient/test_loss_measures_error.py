"""loss.measures-error

Source: 「**损失函数的定义**:损失函数用于量化模型预测值与真实标签之间的差异。」 「这个损失值反映了模型在当前样本上的表现。」

What is true (confirmed):
- PyTorch's standard losses are non-negative measures of the gap between prediction and target.
- The regression losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss) are exactly 0 where the prediction equals the
  target and positive at every element where it differs.
- Cross-entropy -log p_y is positive for every finite logit vector, decreases strictly as the target's logit margin
  grows, and reaches 0 only in the limit p_y -> 1.
- With a probability target q, cross-entropy equals H(q) + KL(q || softmax(z)), so it is minimal, equal to the
  target's entropy H(q), exactly when the predicted distribution equals q.

Why: with a logit margin m of the target over K - 1 equal other logits, CE = log(e^m + K - 1) - m = log(1 + (K - 1)
e^-m), positive and strictly decreasing in m; the tests check it for K = 2, 3 and 10 and margins from -5 to 30
(still above 0 at m = 30, where (K - 1) e^-30 ~ 1e-13 is far above float64's resolution near 0). With a probability
target q (CrossEntropyLoss accepts class probabilities), CE(z, q) = -sum_c q_c log softmax(z)_c = H(q) + KL(q ||
softmax z) >= H(q), with equality exactly at softmax z = q (Gibbs' inequality, Cover & Thomas, Elements of
Information Theory, Thm 2.6.3); the tests check the decomposition on random q and z, the floor H(q) at the target,
and a higher loss when probability mass moves away from it. Label smoothing (PyTorch docs, CrossEntropyLoss) is such a
target, q = (1 - eps) e_y + eps / K: the loss equals cross-entropy against q, so its floor is H(q) > 0. For the regression losses Hypothesis draws batches with
one sample predicted exactly: its terms are exactly 0, and every differing element's term is positive.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, feature_shapes, seeds
from support.losses import loss_case
from support.tensors import maker
from support.tolerances import assert_close, assert_ge, override, slack

pytestmark = pytest.mark.claim("loss.measures-error")
REGRESSION_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")
# CE = logsumexp(z) - z_y is computed as the log of a sum >= 1 after subtracting the max logit: its absolute
# error is a few ulps of 1 and of the logits (|z| <= 30: ~7e-15), so tiny losses are only good to ~1e-14
CE_TOL = override(rtol=1e-12, atol=1e-14, reason="log-sum-exp of logits up to 30: absolute rounding ~ 30 ulp(1)")
SUM_OF_K_TERMS = slack(abs=1e-12, reason="rounding of a sum of k <= 8 float64 terms")


@given(data=st.data(), name=st.sampled_from(REGRESSION_LOSSES), n=batch_sizes(1, 8), seed=seeds())
def test_regression_losses_are_zero_exactly_at_the_target_and_positive_elsewhere(device, data, name, n, seed):
    case = loss_case(name)
    shape = data.draw(feature_shapes(case))
    pred, target = case.sample_batch(n, shape, seed=seed, device=device)
    pred[0] = target[0]  # one sample predicted exactly: its terms must be 0, the others > 0
    loss = case.make("none")
    terms = loss(pred, target)
    assert torch.equal(loss(target, target), torch.zeros_like(terms))
    assert torch.equal(terms[0], torch.zeros_like(terms[0]))
    differs = pred != target
    assert (terms[differs] > 0).all() and (terms[~differs] == 0).all()
    assert case.make("mean")(pred, target) >= 0


@pytest.mark.parametrize("k", [2, 3, 10])
def test_cross_entropy_is_positive_and_falls_to_zero_as_p_y_goes_to_one(device, k, figures):
    margins = torch.tensor([-5.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0], dtype=torch.float64)
    logits = torch.zeros(len(margins), k, dtype=torch.float64, device=device)
    logits[:, 0] = margins.to(device)  # the target class 0 leads the K - 1 others by m
    target = torch.zeros(len(margins), dtype=torch.long, device=device)
    ce = F.cross_entropy(logits, target, reduction="none")
    # -log p_y = log(e^m + (K - 1)) - m = log(1 + (K - 1) e^-m)
    expected = torch.log1p((k - 1) * torch.exp(-margins)).to(device)
    assert_close(ce, expected, tol=CE_TOL)
    assert (ce > 0).all()  # (K - 1) e^-30 ~ 1e-13 is still far above float64's resolution near 0
    assert (ce[1:] < ce[:-1]).all()  # strictly decreasing in the margin, i.e. in p_y
    figures.record(f"CE at margin 30, K={k}", ce[-1], "nats", zh=f"logit 间隔为 30 时的 CE,K={k}")
    figures.plot("cross-entropy vs the target's logit margin (K classes)", x_label="logit margin z_y - z_other (nats)",
                 y_label="cross-entropy (nats)",
                 zh=("交叉熵与目标类别 logit 间隔的关系(K 个类别)", "logit 间隔 z_y - z_other(nats)", "交叉熵(nats)"),
                 log_y=True).line(f"K = {k}", margins, ce, zh=f"类别数 K = {k}")


@given(n=batch_sizes(1, 6), k=st.integers(2, 8), scale=st.floats(0.1, 5.0), seed=seeds())
def test_cross_entropy_with_a_probability_target_is_minimal_at_that_target(device, n, k, scale, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.softmax(scale * torch.randn(n, k, generator=g, dtype=torch.float64), dim=1).to(device)
    z = (scale * torch.randn(n, k, generator=g, dtype=torch.float64)).to(device)
    ce = F.cross_entropy(z, q, reduction="none")
    at_target = F.cross_entropy(q.log(), q, reduction="none")
    entropy = -(q * q.log()).sum(dim=1)
    kl = (q * (q.log() - torch.log_softmax(z, dim=1))).sum(dim=1)  # KL(q || softmax z), by its definition
    assert_close(at_target, entropy)  # at the target the loss is the target's own entropy H(q)
    assert_close(ce, entropy + kl)  # CE = H(q) + KL(q || p)
    assert_ge(kl, 0.0, slack=SUM_OF_K_TERMS)  # Gibbs: KL >= 0
    assert_ge(ce, at_target, slack=SUM_OF_K_TERMS)


def test_the_entropy_floor_is_reached_only_at_the_target(device):
    make = maker(device)
    q = make.tensor([[0.7, 0.2, 0.1]])
    at_target = F.cross_entropy(q.log(), q)
    for eps in (1e-1, 1e-3):  # move probability mass away from q: the loss rises above H(q)
        p = q + eps * make.tensor([[-1.0, 1.0, 0.0]])
        assert F.cross_entropy(p.log(), q) > at_target
    # a 3-term float64 sum of terms ~0.3 (plus a logsumexp ~0): rounding ~3 * 2.2e-16 relative, far below 1e-12
    assert math.isclose(at_target.item(), -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),
                        rel_tol=1e-12)


@pytest.mark.parametrize("smoothing", [0.05, 0.3])
def test_label_smoothing_is_a_probability_target_so_its_floor_is_that_targets_entropy(device, smoothing):
    # PyTorch docs, CrossEntropyLoss: label_smoothing mixes the one-hot target with the uniform distribution,
    # q = (1 - eps) e_y + eps / K; so the loss equals cross-entropy against q and, by the test above, is at least
    # H(q) > 0, reached where softmax(z) = q
    k, make = 5, maker(device)
    y = torch.tensor([0, 3, 1], device=device)
    z = make.randn(3, k, seed=7)
    q = torch.full((3, k), smoothing / k, dtype=torch.float64, device=device)
    q[torch.arange(3), y] += 1 - smoothing
    assert_close(F.cross_entropy(z, y, label_smoothing=smoothing), F.cross_entropy(z, q))
    floor = -(q * q.log()).sum(dim=1).mean()
    assert floor > 0
    assert_close(F.cross_entropy(q.log(), y, label_smoothing=smoothing), floor)  # reached at softmax(z) = q
