"""explosion.definition

Source: 「梯度爆炸是指在反向传播过程中,梯度的值变得异常大,导致权重更新过于剧烈」
「具体来说,当网络的某些权重值过大时,计算出的梯度也会相应增大,从而导致后续的权重更新变得不稳定。」
「最终,这可能导致模型无法收敛,甚至出现数值溢出(NaN值)。」

What is true (confirmed): an exploding gradient is one so large that the step overshoots. Past the stability
limit of SGD (lr > 2 / lambda_max, lambda_max the largest eigenvalue of the loss Hessian; Goodfellow et al.,
Deep Learning, sec. 4.3.1) each update lands where the gradient is larger: the gradient norm grows step over
step and within a few steps loss and parameters overflow to inf/NaN. The same net with a learning rate below
the limit stays finite and its loss decreases. And larger weights do give larger gradients: a bias-free
depth-L linear (or ReLU) net is homogeneous, so scaling every weight by c scales the gradient of each weight
matrix of the read-out u.f(x) by exactly c^(L-1).
"""

import math

import pytest
import torch
from torch.func import functional_call

from support.explosion import OVERFLOW_WITHIN_STEPS, UNSTABLE_LR, unstable_regression
from support.gradients import flat_params
from support.models import mlp
from support.tolerances import assert_close
from support.training import train

pytestmark = pytest.mark.claim("explosion.definition")

STEPS = 20
LR_SANE, LR_LARGE = 0.05, UNSTABLE_LR
K_STEPS = OVERFLOW_WITHIN_STEPS  # derived in support.explosion
# the two runs share two figures: gradient norm per step and loss per step (inf/nan are left out of the plot)
GRAD_PLOT = dict(plot="gradient norm per step at two learning rates", x_label="SGD step",
                 y_label="total gradient norm (L2)", log_y=True)
LOSS_PLOT = dict(plot="training loss per step at two learning rates", x_label="SGD step",
                 y_label="training MSE (squared target units)", log_y=True)


def _device_tag(device) -> str:
    """Series names carry the device when it is not the CPU (a run on cpu and cuda draws both)."""
    return "" if device == "cpu" else f" ({device})"


def _setup(device):
    return unstable_regression(device)


def _largest_hessian_eigenvalue(model, x, y) -> float:
    """lambda_max of the MSE loss Hessian w.r.t. all parameters at the model's current weights."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = flat_params(model)

    def loss(v):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            k = math.prod(s)
            params[n] = v[i : i + k].reshape(s)
            i += k
        return torch.nn.functional.mse_loss(functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss, flat, vectorize=True)
    return torch.linalg.eigvalsh(hessian)[-1].item()


def _run(make_model, x, y, lr):
    model = make_model()
    history = train(model, torch.nn.functional.mse_loss, x, y, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                    steps=STEPS, stop_when_non_finite=False)
    return model, history


def test_learning_rates_straddle_the_stability_limit(device, figures):
    x, y, make_model = _setup(device)
    lam = _largest_hessian_eigenvalue(make_model(), x, y)
    limit = 2.0 / lam
    figures.record("lambda_max of the loss Hessian at init", lam, "1/lr")
    figures.record("stability limit 2/lambda_max", limit, "lr")
    assert LR_SANE < limit < LR_LARGE  # the two runs below sit on either side of the limit


def test_too_large_lr_grows_the_gradient_every_step_until_overflow(device, figures):
    x, y, make_model = _setup(device)
    model, history = _run(make_model, x, y, LR_LARGE)
    k = history.first_non_finite_step
    assert k is not None and k <= K_STEPS, f"no overflow within {K_STEPS} steps: {history.grad_norms}"
    finite = history.grad_norms[:k]
    assert len(finite) >= 3
    assert all(b > a for a, b in zip(finite, finite[1:])), f"gradient norm did not grow step over step: {finite}"
    assert not math.isfinite(history.losses[-1])
    assert not all(torch.isfinite(p).all() for p in model.parameters())  # the overflow reached the weights
    figures.record("first non-finite step at lr=1.0", k, "step")
    figures.record("largest finite gradient norm before overflow", finite[-1], "gradient norm")
    name = f"lr = {LR_LARGE} (above 2/lambda_max), non-finite from step {k}{_device_tag(device)}"
    figures.series(name, range(len(history.grad_norms)), history.grad_norms, **GRAD_PLOT)
    figures.series(name, range(len(history.losses)), history.losses, **LOSS_PLOT)


def test_sane_lr_stays_finite_and_decreases_the_loss_every_step(device, figures):
    x, y, make_model = _setup(device)
    _, history = _run(make_model, x, y, LR_SANE)
    assert history.finite and len(history.losses) == STEPS
    # below 2/lambda_max a gradient step on a smooth loss is a descent step (descent lemma), as long as the
    # curvature along the path stays below 2/lr = 40 -- 6.5x the curvature at init
    assert all(b < a for a, b in zip(history.losses, history.losses[1:])), history.losses
    figures.record("loss after 20 steps / initial loss at lr=0.05", history.losses[-1] / history.losses[0], "1")
    name = f"lr = {LR_SANE} (below 2/lambda_max){_device_tag(device)}"
    figures.series(name, range(STEPS), history.grad_norms, **GRAD_PLOT)
    figures.series(name, range(STEPS), history.losses, **LOSS_PLOT)


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("c", [0.5, 3.0, 10.0])
def test_scaling_the_weights_by_c_scales_the_weight_gradients_by_c_to_the_depth_minus_one(device, activation, c):
    # f(x; cW) = c^L f(x; W) for a bias-free net of L linear layers with a positively homogeneous activation,
    # and d f / d W_l is a product of the other L - 1 weight matrices: it scales by c^(L-1).
    depth = 4
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(device)
    grads = {}
    for scale in (1.0, c):
        net = mlp(6, 6, 2, depth=depth, activation=activation, weight_std=0.4, bias=False, seed=7, device=device)
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(scale)  # in float64, so the scaled net is c times the other up to float64 rounding
        net(x).sum().backward()
        grads[scale] = [p.grad for p in net.parameters()]
    for g1, gc in zip(grads[1.0], grads[c]):
        assert_close(gc, c ** (depth - 1) * g1)
