"""loss.at-init

What is true (qualified):
- nn.Linear's default init draws a layer's weights and bias uniformly from [-1/sqrt(fan_in), 1/sqrt(fan_in)].
- With it a freshly initialised C-class classifier's mean cross-entropy starts near ln C, the loss of a uniform
  prediction, when the last layer's inputs are of order 1: over the draw of the last layer, ln C <= E loss <= ln C +
  |g|^2 / (6 fan_in) averaged over the samples, g the last layer's input with a 1 appended; on the tested 16-128-C
  ReLU MLP with standardised inputs it is at most 10% above ln C (C = 10 and C = 100).
- A last layer initialised at a large scale (torch.nn.init.normal_ with its default std 1) starts the loss far above ln
  C: above 2 ln C for C = 10 and C = 100.
- Inputs that were not normalised (raw pixel values 0..255 instead of standardised ones) multiply the same network's
  logit scale more than tenfold and start its loss above 2 ln C, while on the standardised inputs it starts near ln C.
- reduction='sum' reports N times the mean, about N ln C at initialisation.

Why: the init is documented (PyTorch docs, torch.nn.Linear: weight and bias "initialized from U(-sqrt(k), sqrt(k)),
where k = 1/in_features"; torch/nn/modules/linear.py, reset_parameters: kaiming_uniform_ with a = sqrt(5), a bound of
1/sqrt(fan_in)). Write a = 1/sqrt(fan_in) and g = (h, 1) for the last layer's input with the bias's 1, so that logit z_c
= V_c . g with the entries of V iid uniform on [-a, a]: Var z_c = a^2 |g|^2 / 3 = s^2. The loss of a sample is LSE(z) -
z_y, LSE the log-sum-exp. Lower bound: LSE(z) >= ln C + mean_c z_c (Jensen), and E z_c = 0, so E loss >= ln C. Upper
bound: E LSE(z) <= ln sum_c E e^{z_c} (Jensen) and E e^{t U} = sinh(t a) / (t a) <= e^{t^2 a^2 / 6} for U uniform on
[-a, a] (compare the products sinh(x)/x = prod_k (1 + x^2 / (k pi)^2) <= exp(x^2 / 6)), so E e^{z_c} <= e^{s^2 / 2} and
E loss <= ln C + s^2 / 2 = ln C + |g|^2 / (6 fan_in): with small logits, i.e. last-layer inputs of order 1, the loss
starts near ln C, and the default-init test checks that the band ln C + s^2 / 2 (plus the concentration margin r
below) ends below 1.1 ln C for its network and standardised inputs (larger inputs widen the band as |g|^2: raw
pixels, below, start far above). A loss at initialisation far above ln C
therefore means logits far larger than s, or a reduction that does not average. Over-confident head: with V_c ~ N(0, I),
E max_c z_c = |h| e_C, e_C the expected maximum of C standard normals (computed here by quadrature: 1.54 for C = 10,
2.51 for C = 100), and E loss >= E max_c z_c (the uniform bias only raises the maximum's expectation, by Jensen given
the weights). Raw inputs with the default head: each z_c is a sum of independent symmetric terms of kurtosis 9/5, so E
z^4 <= 3 (E z^2)^2 and Paley-Zygmund gives P(z_c > t) >= (1 - t^2 / s^2)^2 / 6; then E max_c z_c >= s k_C with k_C =
int_0^1 [1 - (1 - (1 - u^2)^2 / 6)^C] du - 2^-C (a lower Riemann sum here), and E loss >= E max_c z_c. These are
expectations over the head; one head's loss is a Lipschitz function of its weights: |delta loss| <= sqrt(2) mean_i
|delta z_i| (the gradient p - e_y of the loss in z has norm <= sqrt(2)) <= sqrt(2 lambda) ||delta V||_F, lambda the
largest eigenvalue of mean_i g_i g_i^T, and uniform entries are images of standard normals by a(2 Phi(G) - 1), which has
slope <= a sqrt(2 / pi). The mean over K independent heads on one seeded trunk is then Lipschitz in K standard normal
vectors with constant L / sqrt(K), and Gaussian concentration (Tsirelson-Ibragimov-Sudakov; Boucheron, Lugosi & Massart
2013, Thm 5.6) bounds each side's miss by r = (L / sqrt(K)) sqrt(2 ln(1 / delta)) with probability >= 1 - delta. Every
test uses delta = 1e-4 per bound and at most two bounds, so a fresh draw of the heads fails a test with probability
below 1e-3; the trunk and the data are seeded, and the bounds are computed from them. The heads are drawn by one
nn.Linear(fan_in, K C), whose rows have the same law as K separate nn.Linear(fan_in, C) heads; a test checks that law
(|w| <= a and the variance a^2 / 3). reduction='sum' divides by nothing (PyTorch docs, torch.nn.CrossEntropyLoss:
"'sum': the output will be summed"), so it is N times 'mean' up to rounding.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.tensors import generator, seeded_init
from support.tolerances import EXACT, ROUNDING, accumulation, assert_close, assert_ge, assert_le, override

pytestmark = pytest.mark.claim("loss.at-init")
N, PIXELS, HIDDEN = 32, 16, 128  # a batch of 32 "images" of 16 pixels, a hidden layer of 128 units
# K independent last layers on one seeded trunk: enough that the bounds below separate (r shrinks as 1 / sqrt(K));
# raw pixels need more, their logits share one large direction (the pixels' mean) and vary more from head to head
HEADS, RAW_HEADS = 256, 512
DELTA = 1e-4  # the failure probability of each concentration bound
CLASS_COUNTS = [10, 100]


def _record(figures, name: str, value, unit: str, *, zh: str) -> float:
    """A figure measured on this module's network (the report shows it next to the number)."""
    return figures.record(
        name,
        value,
        unit,
        zh=zh,
        measured_on=f"ReLU MLP {PIXELS}-{HIDDEN}-C (default init), {N} samples, heads drawn {HEADS} (raw pixels "
        f"{RAW_HEADS}) at a time",
        measured_on_zh=f"ReLU MLP {PIXELS}-{HIDDEN}-C(默认初始化),{N} 个样本,每次抽取 {HEADS} 个输出层(原始像素为 "
        f"{RAW_HEADS} 个)",
    )


def _pixels(device):
    """Raw pixel values 0..255 and the same data standardised per pixel (mean 0, std 1 over the batch)."""
    raw = torch.randint(0, 256, (N, PIXELS), generator=generator(61)).to(torch.float64)
    standardised = (raw - raw.mean(dim=0)) / raw.std(dim=0)
    return raw.to(device), standardised.to(device)


def _trunk(device):
    with seeded_init(62):
        trunk = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU())  # PyTorch's default init
    return trunk.to(device=device, dtype=torch.float64)


def _heads(classes, device, block, *, count=HEADS, weight_std=None):
    """``count`` last layers (fan_in HIDDEN, C outputs) as (K, C, HIDDEN) weights and (K, C) biases, drawn from seed
    block ``block`` (the seed_block fixture: 0 in a default run, fresh draws under the thorough profile)."""
    with seeded_init(63 + classes + 10_000 * block):
        layer = nn.Linear(HIDDEN, count * classes)  # default init: every row drawn like one nn.Linear(HIDDEN, C)'s
        if weight_std is not None:
            nn.init.normal_(layer.weight, std=weight_std)  # an over-confident custom init
    layer = layer.to(device=device, dtype=torch.float64)
    return layer.weight.detach().view(count, classes, HIDDEN), layer.bias.detach().view(count, classes)


def _labels(classes, device):
    return (torch.arange(N) % classes).to(device)  # as balanced as N allows; the heads do not see them


def _logits(features, weight, bias):
    """Every head's logits for the batch: (K, N, C)."""
    return torch.einsum("nh,kch->knc", features, weight) + bias[:, None, :]


def _loss_per_head(features, weight, bias, y):
    """Each head's mean cross-entropy over the batch: a (K,) tensor."""
    logits = _logits(features, weight, bias)
    k, n, c = logits.shape
    return F.cross_entropy(logits.reshape(k * n, c), y.repeat(k), reduction="none").view(k, n).mean(dim=1)


def _spread(features, lipschitz_scale, count=HEADS):
    """r: the miss of the mean over ``count`` heads, on each side, at probability DELTA (Gaussian concentration)."""
    g = torch.cat([features, torch.ones_like(features[:, :1])], dim=1)  # (h, 1): the bias's input
    lam = torch.linalg.eigvalsh(g.T @ g / g.shape[0]).max()
    lipschitz = math.sqrt(2.0) * lam.sqrt() * lipschitz_scale
    return lipschitz / math.sqrt(count) * math.sqrt(2.0 * math.log(1.0 / DELTA))


def _logit_variance(features):
    """s_i^2 = a^2 |g_i|^2 / 3 for the default head: the variance of each logit of sample i."""
    return (features.pow(2).sum(dim=1) + 1.0) / (3.0 * HIDDEN)


def _expected_max_of_normals(classes):
    """e_C = E max of C iid standard normals = int x C phi(x) Phi(x)^(C-1) dx (trapezoid on [-12, 12])."""
    x = torch.linspace(-12.0, 12.0, 240_001, dtype=torch.float64)
    phi = torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    # the quadrature error is far below 1e-9 (a smooth integrand with Gaussian tails); 1e-6 keeps it a lower bound
    return torch.trapezoid(x * classes * phi * cdf ** (classes - 1), x).item() - 1e-6


def _paley_zygmund_max_factor(classes):
    """k_C: E max of C iid symmetric draws of std s and kurtosis <= 3 is at least s k_C (see the module docstring)."""
    u = torch.linspace(0.0, 1.0, 10_001, dtype=torch.float64)[1:]  # right end points: the integrand decreases in u
    integrand = 1 - (1 - (1 - u * u) ** 2 / 6) ** classes
    return (integrand.sum() / 10_000).item() - 2.0**-classes


def test_default_init_draws_the_documented_uniform_law(device, seed_block):
    weight, bias = _heads(100, device, seed_block)
    a = 1 / math.sqrt(HIDDEN)
    assert_le(weight.abs().max(), a, slack=EXACT)
    assert_le(bias.abs().max(), a, slack=EXACT)
    # mean of w^2 over n = 256 * 100 * 128 = 3.3M draws in [0, a^2]: Hoeffding, P(|miss| > 1% of a^2 / 3) <=
    # 2 exp(-2 n (0.01 / 3)^2) = 2 exp(-73); a normal law (variance a^2 / 3 would exceed the bound) or another
    # width would miss by far more than 1%
    assert_close(
        weight.pow(2).mean(),
        torch.tensor(a * a / 3, dtype=torch.float64, device=device),
        tol=override(rtol=1e-2, atol=0.0, reason="mean of 3.3M bounded draws: Hoeffding at 1%"),
    )


@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_default_init_starts_near_ln_c(classes, device, figures, seed_block):
    _, standardised = _pixels(device)
    with torch.no_grad():
        h = _trunk(device)(standardised)
    weight, bias = _heads(classes, device, seed_block)
    y = _labels(classes, device)
    losses = _loss_per_head(h, weight, bias, y)
    ln_c = math.log(classes)
    excess_bound = (_logit_variance(h) / 2).mean().item()  # E loss <= ln C + mean_i s_i^2 / 2
    r = _spread(h, math.sqrt(2 / math.pi) / math.sqrt(HIDDEN))
    mean = losses.mean()
    assert_ge(mean, ln_c - r, slack=EXACT, msg="mean loss over the heads below ln C - r")
    assert_le(mean, ln_c + excess_bound + r, slack=EXACT, msg="mean loss over the heads above ln C + s^2/2 + r")
    assert_le(ln_c + excess_bound + r, 1.1 * ln_c, slack=EXACT, msg="the derived band is not near ln C")
    # averaged over all C labels (uniform probability targets) the loss is LSE(z) - mean(z) >= ln C for every head
    logits = _logits(h, weight[:16], bias[:16])  # 16 heads are enough for a property of every head
    uniform = torch.full((16 * N, classes), 1.0 / classes, dtype=torch.float64, device=device)
    label_averaged = F.cross_entropy(logits.reshape(-1, classes), uniform, reduction="none")
    assert_ge(label_averaged.min(), ln_c, slack=ROUNDING)
    _record(
        figures,
        f"C = {classes}: mean loss at default init (mean of {HEADS} heads)",
        mean,
        "nats",
        zh=f"C = {classes}:默认初始化时的平均损失({HEADS} 个输出层的平均)",
    )
    _record(figures, f"C = {classes}: ln C", ln_c, "nats", zh=f"C = {classes}:ln C 的值")
    _record(
        figures,
        f"C = {classes}: derived upper bound ln C + s^2/2 + r",
        ln_c + excess_bound + r,
        "nats",
        zh=f"C = {classes}:推导出的上界 ln C + s^2/2 + r",
    )


@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_an_over_confident_last_layer_starts_far_above_ln_c(classes, device, figures, seed_block):
    _, standardised = _pixels(device)
    with torch.no_grad():
        h = _trunk(device)(standardised)
    weight, bias = _heads(classes, device, seed_block, weight_std=1.0)  # nn.init.normal_'s default std
    losses = _loss_per_head(h, weight, bias, _labels(classes, device))
    lower = _expected_max_of_normals(classes) * h.norm(dim=1).mean().item()  # E loss >= |h| e_C
    # weights N(0, 1): slope 1; the bias is still uniform, slope a sqrt(2/pi) < 1
    r = _spread(h, max(1.0, math.sqrt(2 / math.pi) / math.sqrt(HIDDEN)))
    ln_c = math.log(classes)
    assert_ge(losses.mean(), lower - r, slack=EXACT, msg="mean loss below the derived |h| e_C - r")
    assert_ge(lower - r, 2 * ln_c, slack=EXACT, msg="the derived bound is not far above ln C")
    _record(
        figures,
        f"C = {classes}: mean loss at init, last layer N(0, 1)",
        losses.mean(),
        "nats",
        zh=f"C = {classes}:输出层按 N(0, 1) 初始化时的平均损失",
    )
    _record(
        figures,
        f"C = {classes}: derived lower bound |h| e_C - r, last layer N(0, 1)",
        lower - r,
        "nats",
        zh=f"C = {classes}:推导出的下界 |h| e_C - r,输出层 N(0, 1)",
    )


@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_unnormalised_inputs_start_far_above_ln_c(classes, device, figures, seed_block):
    raw, standardised = _pixels(device)
    trunk = _trunk(device)
    with torch.no_grad():
        h_raw, h_std = trunk(raw), trunk(standardised)
    weight, bias = _heads(classes, device, seed_block, count=RAW_HEADS)
    y = _labels(classes, device)
    losses = _loss_per_head(h_raw, weight, bias, y)
    lower = _paley_zygmund_max_factor(classes) * _logit_variance(h_raw).sqrt().mean().item()  # E loss >= s k_C
    r = _spread(h_raw, math.sqrt(2 / math.pi) / math.sqrt(HIDDEN), RAW_HEADS)
    ln_c = math.log(classes)
    assert_ge(losses.mean(), lower - r, slack=EXACT, msg="mean loss below the derived s k_C - r")
    assert_ge(lower - r, 2 * ln_c, slack=EXACT, msg="the derived bound is not far above ln C")
    # the same network and heads on the standardised pixels: back near ln C
    standardised_mean = _loss_per_head(h_std, weight, bias, y).mean()
    r_std = _spread(h_std, math.sqrt(2 / math.pi) / math.sqrt(HIDDEN), RAW_HEADS)
    assert_le(standardised_mean, ln_c + (_logit_variance(h_std) / 2).mean().item() + r_std, slack=EXACT)
    # the logit scale: raw pixels have a root mean square of ~147 (mean 127.5, std 74) against 1 once standardised,
    # and the ReLU trunk is positively homogeneous up to its biases (|b| <= 1/4), so s grows ~100-fold; 10 is far below
    scale = _logit_variance(h_raw).sqrt().mean() / _logit_variance(h_std).sqrt().mean()
    assert_ge(scale, 10.0, slack=EXACT)
    _record(
        figures,
        f"C = {classes}: mean loss at init, raw pixels 0..255",
        losses.mean(),
        "nats",
        zh=f"C = {classes}:原始像素 0..255 时初始化的平均损失",
    )
    _record(
        figures,
        f"C = {classes}: mean loss at init, standardised pixels",
        standardised_mean,
        "nats",
        zh=f"C = {classes}:标准化像素时初始化的平均损失",
    )
    _record(
        figures,
        f"C = {classes}: logit std, raw / standardised pixels",
        scale,
        "1",
        zh=f"C = {classes}:logit 标准差之比,原始 / 标准化像素",
    )


@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_reduction_sum_reports_n_times_the_mean(classes, device, figures):
    _, standardised = _pixels(device)
    with torch.no_grad():
        h = _trunk(device)(standardised)
    weight, bias = _heads(classes, device, 0)  # an exact identity: any draw shows it
    y = _labels(classes, device)
    logits = _logits(h, weight, bias)
    for z in logits[:8]:  # one head at a time, as a training loop logs its loss: 'sum' is N times 'mean'
        assert_close(
            F.cross_entropy(z, y, reduction="sum"), N * F.cross_entropy(z, y), tol=accumulation(torch.float64, N)
        )
    # all heads in one call: the total over K N terms, so its K-th part is the mean over the heads of each head's sum
    flat, targets = logits.reshape(-1, classes), y.repeat(HEADS)
    sums = F.cross_entropy(flat, targets, reduction="sum") / HEADS
    assert_close(sums, N * F.cross_entropy(flat, targets), tol=accumulation(torch.float64, HEADS * N))
    # so the mean over the heads of the summed loss is N times the band around ln C
    ln_c = math.log(classes)
    r = _spread(h, math.sqrt(2 / math.pi) / math.sqrt(HIDDEN))
    excess_bound = (_logit_variance(h) / 2).mean().item()
    assert_ge(sums, N * (ln_c - r), slack=EXACT)
    assert_le(sums, N * (ln_c + excess_bound + r), slack=EXACT)
    _record(
        figures,
        f"C = {classes}: summed loss at default init, N = {N}",
        sums,
        "nats",
        zh=f"C = {classes}:默认初始化时 sum 归约的损失,N = {N}",
    )
