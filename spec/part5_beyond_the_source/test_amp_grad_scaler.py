"""amp.grad-scaler

What is true: torch.amp.GradScaler.scale(loss) multiplies the loss by the current scale S (loss scaling,
Micikevicius et al. 2018, sec. 3.2), so backward leaves S times the true gradients in .grad.
scaler.unscale_(optimizer) divides them by S; calling it before clip_grad_norm_ gives the same clipped
gradients and the same step as a run without scaling (PyTorch docs, Automatic Mixed Precision examples,
"Gradient clipping"), while clipping the still-scaled gradients clips a norm S times too large, leaving a
gradient of norm max_norm / S after the step's own unscaling. If any gradient is inf or NaN, scaler.step
skips optimizer.step (parameters unchanged) and update() multiplies the scale by backoff_factor (0.5);
after growth_interval consecutive clean steps update() multiplies it by growth_factor (PyTorch docs,
torch.amp.GradScaler). The device-generic ``torch.amp.GradScaler(device)`` needs torch >= 2.3.
"""

import pytest
import torch
import torch.nn.functional as F

from support.data import regression
from support.gradients import flat_grad, flat_params, total_grad_norm
from support.models import mlp
from support.tolerances import assert_close

pytestmark = [
    pytest.mark.claim("amp.grad-scaler"),
    pytest.mark.skipif(torch.__version__ < (2, 3), reason="torch.amp.GradScaler(device) (CPU loss scaling) needs torch >= 2.3"),
]
SCALE = 2.0**12  # a power of two: multiplying and dividing by it is exact in floating point
LR, MAX_NORM = 0.1, 0.05


def _setup(device):
    x, y = regression(8, 3, 2, seed=31, device=device)
    model = mlp(3, 8, 2, depth=2, activation="tanh", seed=31, device=device)
    return model, torch.optim.SGD(model.parameters(), lr=LR), x, y


def test_scale_multiplies_the_loss_and_the_gradients(device, figures):
    model, _, x, y = _setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=SCALE)
    loss = F.mse_loss(model(x), y)
    loss.backward(retain_graph=True)
    plain = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    scaled = scaler.scale(loss)
    assert_close(scaled, SCALE * loss)
    scaled.backward()
    assert_close(flat_grad(model), SCALE * plain)  # backward is linear in the seed gradient S
    figures.record("scaled grad norm / unscaled grad norm", flat_grad(model).norm() / plain.norm(), "1")


def test_unscale_before_clip_gives_the_unscaled_runs_clipped_gradients_and_step(device, figures):
    # the run without scaling
    model, opt, x, y = _setup(device)
    F.mse_loss(model(x), y).backward()
    norm = total_grad_norm(model)
    assert norm > MAX_NORM  # so the clip acts: it rescales the gradient to norm MAX_NORM
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    clipped = flat_grad(model).clone()
    opt.step()
    after_plain = flat_params(model)
    assert_close(clipped.norm(), torch.tensor(MAX_NORM, dtype=clipped.dtype, device=device))

    # the scaled run: scale, backward, unscale_, clip, scaler.step, update
    model, opt, x, y = _setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=SCALE)
    scaler.scale(F.mse_loss(model(x), y)).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    assert_close(flat_grad(model), clipped)
    scaler.step(opt)
    scaler.update()
    assert_close(flat_params(model), after_plain)
    figures.record("gradient norm before clipping", norm, "gradient norm")


def test_clipping_without_unscale_clips_a_norm_scale_times_too_large(device, figures):
    model, opt, x, y = _setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=SCALE)
    scaler.scale(F.mse_loss(model(x), y)).backward()
    # the scaled norm is S * norm > MAX_NORM: the clip brings it to MAX_NORM, then step() divides by S
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    scaler.step(opt)
    final = flat_grad(model).norm()
    assert_close(final, torch.tensor(MAX_NORM / SCALE, dtype=final.dtype, device=device))
    figures.record("effective gradient norm when clipping before unscale_", final, "gradient norm")


def test_an_inf_gradient_skips_the_step_and_backs_off_the_scale(device):
    model, opt, x, y = _setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=SCALE, backoff_factor=0.5)
    before = flat_params(model)
    scaler.scale(F.mse_loss(model(x), y)).backward()
    with torch.no_grad():
        next(model.parameters()).grad[0, 0] = float("inf")  # an overflowed gradient entry
    scaler.step(opt)
    scaler.update()
    assert torch.equal(flat_params(model), before), "the step must be skipped"
    assert scaler.get_scale() == SCALE * 0.5


def test_clean_steps_grow_the_scale_after_growth_interval(device):
    model, opt, x, y = _setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=SCALE, growth_factor=2.0, growth_interval=2)
    scales = []
    for _ in range(3):
        before = flat_params(model)
        opt.zero_grad(set_to_none=True)
        scaler.scale(F.mse_loss(model(x), y)).backward()
        scaler.step(opt)
        scaler.update()
        assert not torch.equal(flat_params(model), before), "a clean step is taken"
        scales.append(scaler.get_scale())
    # after step 1 one clean step (no growth yet), after step 2 two: the scale doubles; the count restarts
    assert scales == [SCALE, 2 * SCALE, 2 * SCALE]
