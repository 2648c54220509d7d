"""loss.measures-error

Source: 「**损失函数的定义**:损失函数用于量化模型预测值与真实标签之间的差异。」 「这个损失值反映了模型在当前样本上的表现。」

What is true (confirmed):
- PyTorch's standard losses are non-negative measures of the gap between prediction and target.
- The regression losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss) are exactly 0 where the prediction equals the
  target and positive at every element where it differs.
- Cross-entropy -log p_y is, in exact arithmetic, positive for every finite logit vector, decreases strictly as the
  target's logit margin grows, and reaches 0 only in the limit p_y -> 1.
- In floating point a sample's cross-entropy rounds to exactly 0 once its target logit leads every other by about
  ln(2/eps), about 17 in float32 and 37 in float64 (with many classes up to ln(2 (C - 1)/eps), depending on the order
  of the sum), while its gradient, e^-margin on every other class, is still non-zero.
- With a probability target q, cross-entropy equals H(q) + KL(q || softmax(z)), so it is minimal, equal to the
  target's entropy H(q), exactly when the predicted distribution equals q.
- CrossEntropyLoss takes logits and applies log_softmax itself; fed probability rows (a softmax before it), its logit
  margin is at most 1, so each term stays at or above log(1 + (C - 1)/e), reached only at a one-hot row, while on the
  logits a confidently right row's loss falls below that.

Why: with a logit margin m of the target over K - 1 equal other logits, CE = log(e^m + K - 1) - m = log(1 + (K - 1)
e^-m), positive and strictly decreasing in m; the tests check it for K = 2, 3 and 10 and margins from -5 to 30
(still above 0 at m = 30, where (K - 1) e^-30 ~ 1e-13 is far above float64's resolution near 0). With a probability
target q (CrossEntropyLoss accepts class probabilities), CE(z, q) = -sum_c q_c log softmax(z)_c = H(q) + KL(q ||
softmax z) >= H(q), with equality exactly at softmax z = q (Gibbs' inequality, Cover & Thomas, Elements of
Information Theory, Thm 2.6.3); the tests check the decomposition on random q and z, the floor H(q) at the target,
and a higher loss when probability mass moves away from it. Label smoothing (PyTorch docs, CrossEntropyLoss) is such a
target, q = (1 - eps) e_y + eps / K: the loss equals cross-entropy against q, so its floor is H(q) > 0. For the
regression losses Hypothesis draws batches with one sample predicted exactly: its terms are exactly 0, and every
differing element's term is positive. In floating point the log of 1 + (K - 1) e^-m is taken after the sum is
rounded: round-to-nearest (ties to even) turns 1 + x into 1 for x <= eps / 2, so the loss is exactly 0 from m =
ln(2 / eps) when the K - 1 small terms are added to 1 one at a time, and from m = ln(2 (K - 1) / eps) when they are
summed first; a test sweeps margins in steps of 0.01 in float32 and float64 for K = 2, 3, 10 and 100 and checks the
loss positive below the first and exactly 0 above the second (for K = 2 they coincide: 16.64 and 36.74), with the
gradient on each other class still e^-m. CrossEntropyLoss equals NLLLoss on log_softmax of its input (PyTorch docs);
fed probabilities p, each term is log(1 + sum_{c != y} e^(p_c - p_y)) and p_c - p_y >= -1, so it is at least
log(1 + (K - 1)/e), with equality only at p = e_y (checked on one-hot rows and on softmax outputs of confident logits,
whose own loss goes lower).
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, feature_shapes, seeds
from support.losses import loss_case
from support.tensors import generator, maker
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
    figures.plot(
        "cross-entropy vs the target's logit margin (K classes)",
        x_label="logit margin z_y - z_other (nats)",
        y_label="cross-entropy (nats)",
        zh=("交叉熵与目标类别 logit 间隔的关系(K 个类别)", "logit 间隔 z_y - z_other(nats)", "交叉熵(nats)"),
        log_y=True,
    ).line(f"K = {k}", margins, ce, zh=f"类别数 K = {k}")


@given(n=batch_sizes(1, 6), k=st.integers(2, 8), scale=st.floats(0.1, 5.0), seed=seeds())
def test_cross_entropy_with_a_probability_target_is_minimal_at_that_target(device, n, k, scale, seed):
    g = generator(seed)
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
    assert math.isclose(
        at_target.item(), -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)), rel_tol=1e-12
    )


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_in_floating_point_cross_entropy_rounds_to_zero_at_a_finite_margin_while_its_gradient_does_not(
    device, dtype, k, figures
):
    # log_softmax subtracts the largest logit and sums exp(z - max) = 1 + (K - 1) e^-m for a target leading the K - 1
    # others by m, then takes the log (PyTorch source, aten/src/ATen/native/SoftMax.cpp, log_softmax). That sum
    # rounds to exactly 1, and the loss to exactly 0, once what is added to 1 is at most half an ulp of 1, eps / 2:
    # at m >= ln(2 / eps) when the K - 1 terms are added to 1 one by one (each e^-m is lost), and at
    # m >= ln(2 (K - 1) / eps) when they are summed first. So the loss is positive below the first margin and exactly
    # 0 above the second; for K = 2 the two coincide. The gradient softmax(z) - e_y keeps e^-m on every other class.
    eps = torch.finfo(dtype).eps
    lowest, highest = math.log(2 / eps), math.log(2 * (k - 1) / eps)
    # the computed exp(-m) and the margin rounded to the dtype move the edge by a few ulps of m, far below this
    edge = 1e-3
    margins = torch.arange(0.0, highest + 1.0, 0.01, dtype=torch.float64)
    logits = torch.zeros(len(margins), k, dtype=torch.float64)
    logits[:, 0] = margins
    logits = logits.to(device=device, dtype=dtype).requires_grad_(True)
    target = torch.zeros(len(margins), dtype=torch.long, device=device)
    ce = F.cross_entropy(logits, target, reduction="none")
    ce.sum().backward()
    margins = logits.detach()[:, 0].double().cpu()  # as the dtype holds them
    assert (ce[(margins < lowest - edge).to(device)] > 0).all()
    zero = (margins >= highest + edge).to(device)
    assert zero.any() and (ce[zero] == 0).all()
    # ... while its gradient on every other class is e^-m, not 0
    others = logits.grad[zero][:, 1:]
    assert (others > 0).all()
    expected = torch.exp(-margins[zero.cpu()]).to(device=device, dtype=dtype)[:, None].expand_as(others)
    assert_close(others, expected)
    first = margins[(ce == 0).cpu()].min().item()
    name = str(dtype).removeprefix("torch.")
    figures.record(
        f"{name}, K={k}: smallest margin with CE exactly 0",
        first,
        "nats",
        zh=f"{name},K={k}:CE 恰为 0 的最小间隔",
        note=f"ln(2/eps) = {lowest:.2f}",
        note_zh=f"对照:ln(2/eps) = {lowest:.2f}",
    )


@pytest.mark.parametrize("k", [2, 10, 100])
def test_cross_entropy_takes_logits_and_a_softmax_before_it_keeps_the_loss_above_a_floor(device, k, figures):
    # PyTorch docs, CrossEntropyLoss: "The input is expected to contain the unnormalized logits for each class";
    # it equals NLLLoss on log_softmax of its input
    make = maker(device)
    z = 8.0 * make.randn(64, k, seed=k)  # confident logits: most rows far from uniform
    y = torch.arange(64, device=device) % k
    assert_close(F.cross_entropy(z, y, reduction="none"), F.nll_loss(F.log_softmax(z, dim=1), y, reduction="none"))
    # probability rows as its input: their margin p_y - p_c is at most 1, so each term
    # log(1 + sum_{c != y} e^(p_c - p_y)) >= log(1 + (K - 1) / e), with equality only at the one-hot row p = e_y
    floor = math.log1p((k - 1) / math.e)
    p = torch.softmax(z, dim=1)
    on_probs = F.cross_entropy(p, y, reduction="none")
    assert_ge(on_probs, floor, slack=SUM_OF_K_TERMS)
    one_hot = F.one_hot(y, k).to(torch.float64)
    assert_close(F.cross_entropy(one_hot, y, reduction="none"), make.tensor([floor] * 64))
    # on the logits themselves the rows the model gets right go far below that floor
    on_logits = F.cross_entropy(z, y, reduction="none")
    assert (on_logits < floor).any() and (on_logits[on_logits < floor] < on_probs[on_logits < floor]).all()
    figures.record(
        f"K={k}: floor log(1 + (K-1)/e) of CE on probabilities",
        floor,
        "nats",
        zh=f"K={k}:对概率求 CE 的下限 log(1 + (K-1)/e)",
        note=f"ln K = {math.log(k):.3f}",
        note_zh=f"对照:ln K = {math.log(k):.3f}",
    )
