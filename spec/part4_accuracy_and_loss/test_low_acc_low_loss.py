"""low-acc-low-loss

Source: 「低准确率但低损失:相反,也可能出现模型总体表现不佳(低准确率),但由于其对每个样本的预测相对一致(即使不正确),导致较低的损失。这种情况通常发生在模型对所有类别都没有很强信心时。」

What is true (refuted in absolute terms; only a relative form holds).
Bound. Let sample i be misclassified: its predicted class j = argmax_k p_ik differs from y_i. Then
p_ij >= p_iy (j is a maximal class; this holds whatever rule breaks ties, as long as it picks a maximal
class; torch.argmax picks the first, PyTorch docs) and p_ij + p_iy <= 1, so p_iy <= 1/2 and
CE_i = -ln p_iy >= ln 2. Every sample has CE_i >= 0, so
    mean CE >= (number misclassified / N) ln 2 = (1 - accuracy) ln 2.
Low accuracy forces a loss of at least that: accuracy 0 means CE >= 0.693. The bound is tight: a binary
sample with tied logits and target 1 is misclassified (argmax picks class 0) with CE exactly ln 2.
"Unconfident about every class" means near-uniform predictions, whose loss is ln K for every sample: the
loss of a model that knows nothing, not a low one. What does exist is a relative inversion: a model wrong
on every sample but only just (p_y = 0.49, accuracy 0, CE -ln 0.49 = 0.713) has a lower loss than one
right on 90% (p_y = 0.99) and confidently wrong on 10% (p_y = 1e-4): CE = 0.9 (0.01005) + 0.1 (9.2103) = 0.930.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, seeds
from support.metrics import accuracy
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("low-acc-low-loss")
LN2 = math.log(2)
SLACK = 1e-12  # float64 rounding of -log_softmax at p_y = 1/2 (a few ulps of ln 2)
# one figure for the claim: the floor (1 - acc) ln 2 and the models of the tests below, as (accuracy, mean CE)
PLOT = dict(plot="mean cross-entropy vs accuracy: the floor (1 - accuracy) ln 2", x_label="accuracy (fraction)",
            y_label="mean cross-entropy (nats)")


def _device_tag(device) -> str:
    """Series names carry the device when it is not the CPU (a run on cpu and cuda draws both)."""
    return "" if device == "cpu" else f" ({device})"


@given(n=batch_sizes(1, 24), k=st.integers(2, 6), integer=st.booleans(), scale=st.floats(0.1, 50.0), seed=seeds())
def test_mean_cross_entropy_is_at_least_one_minus_accuracy_times_ln2(device, n, k, integer, scale, seed):
    g = torch.Generator().manual_seed(seed)
    # integer logits in [-2, 2] give frequent ties, the case where p_y = 1/2 exactly can occur
    raw = torch.randint(-2, 3, (n, k), generator=g).double() if integer else torch.randn(n, k, generator=g, dtype=torch.float64)
    z, y = (scale * raw).to(device), torch.randint(0, k, (n,), generator=g).to(device)
    per_sample = F.cross_entropy(z, y, reduction="none")
    wrong = z.argmax(dim=1) != y
    assert (per_sample[wrong] >= LN2 - SLACK).all()  # each misclassified sample: p_y <= 1/2
    assert (torch.softmax(z, dim=1).gather(1, y[:, None]).squeeze(1)[wrong] <= 0.5 + SLACK).all()
    assert per_sample.mean().item() >= (1 - accuracy(z, y)) * LN2 - SLACK


def test_the_bound_is_tight(device, figures):
    # 6 samples tied between 2 classes with target 1: argmax picks class 0 -> wrong, CE = ln 2 each;
    # 4 samples right with margin 40: CE = log(1 + e^-40) ~ 4e-18. Accuracy 0.4, bound 0.6 ln 2.
    z = torch.zeros(10, 2, dtype=torch.float64, device=device)
    y = torch.ones(10, dtype=torch.long, device=device)
    z[6:, 1] = 40.0
    acc = accuracy(z, y)
    ce = F.cross_entropy(z, y)
    assert acc == 0.4
    assert_close(ce, torch.tensor(0.6 * LN2, dtype=torch.float64, device=device))
    figures.record("mean CE / bound (1 - acc) ln 2, tight construction", ce / (0.6 * LN2), "1")
    figures.series(f"bound: mean CE >= (1 - accuracy) ln 2{_device_tag(device)}", [0.0, 1.0], [LN2, 0.0],
                   style="dashed", **PLOT)
    figures.series(f"tight: 6 ties (CE ln 2) + 4 right at margin 40{_device_tag(device)}", [acc], [ce], style="points",
                   **PLOT)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_a_model_unconfident_about_every_class_sits_at_ln_k(device, k, figures):
    y = torch.arange(k, device=device).repeat(3)  # balanced targets
    z = torch.zeros(3 * k, k, dtype=torch.float64, device=device)  # uniform predictions
    ce = F.cross_entropy(z, y)
    assert_close(ce, torch.tensor(math.log(k), dtype=torch.float64, device=device))
    assert accuracy(z, y) == 1 / k  # every tie goes to class 0, right for the 1/K of samples of class 0
    assert ce.item() >= (1 - 1 / k) * LN2  # consistent with the bound, and far above it for large K
    figures.record(f"uniform model CE, K={k}", ce, "nats")
    figures.series(f"uniform model, K = {k}: (1/K, ln K){_device_tag(device)}", [accuracy(z, y)], [ce],
                   style="points", **PLOT)


def test_only_a_relative_inversion_exists(device, figures):
    # A: binary, every sample wrong with p_y = 0.49. B: 90 right at p_y = 0.99, 10 wrong at p_y = 1e-4.
    def model(p_y, y_len):
        p = torch.tensor(p_y, dtype=torch.float64, device=device)
        return torch.stack([torch.log1p(-p), p.log()], dim=1), torch.ones(y_len, dtype=torch.long, device=device)

    za, ya = model([0.49] * 100, 100)
    zb, yb = model([0.99] * 90 + [1e-4] * 10, 100)
    acc_a, acc_b = accuracy(za, ya), accuracy(zb, yb)
    ce_a, ce_b = F.cross_entropy(za, ya), F.cross_entropy(zb, yb)
    assert (acc_a, acc_b) == (0.0, 0.9)
    assert_close(ce_a, torch.tensor(-math.log(0.49), dtype=torch.float64, device=device))
    assert_close(ce_b, torch.tensor(-(0.9 * math.log(0.99) + 0.1 * math.log(1e-4)), dtype=torch.float64, device=device))
    assert ce_a < ce_b  # lower accuracy, lower loss: relatively...
    assert ce_a >= (1 - acc_a) * LN2  # ...but A still pays the floor: accuracy 0 costs at least ln 2
    figures.record("CE of the accuracy-0 model (p_y = 0.49)", ce_a, "nats")
    figures.record("CE of the accuracy-0.9 model (10% at p_y = 1e-4)", ce_b, "nats")
    figures.series(f"A: all wrong at p_y = 0.49 (CE {float(ce_a):.3f}){_device_tag(device)}", [acc_a], [ce_a],
                   style="points", **PLOT)
    figures.series(f"B: 90% right at 0.99, 10% wrong at 1e-4 (CE {float(ce_b):.3f}){_device_tag(device)}", [acc_b],
                   [ce_b], style="points", **PLOT)
