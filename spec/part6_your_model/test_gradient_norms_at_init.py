"""check: gradients at init are finite and neither explode nor vanish with depth

Applies: explosion.definition, explosion.cause.init, explosion.cause.depth, remedy.clip-norm

One train-mode backward of the untrained model, with the gradient norm at the output of every layer (every module
with parameters of its own), in the order the forward calls them. The claims: gradients must be finite; the input-
side gradient is a product of per-layer gains, so its log-norm is linear in depth (explosion.cause.depth) with a
per-layer gain above 1 for too-large inits and below 1 for too-small ones (explosion.cause.init). The check fits
that line (least squares of log-norm over layer index) and carries it over the depth of the net: a factor beyond
1000 between the last layer and the first fails (exploding), as does one below 1/1000 (vanishing). Why 1000: the
rule of thumb for a healthy step is an update of about 1e-3 of the weights (Stanford CS231n notes, "Neural
Networks Part 3", section "Ratio of weights:updates"); one learning rate that moves the last layer by 1e-3 then
moves the first by about its own size (or by 1e-6, nothing), so no single learning rate serves the whole net.
tests/test_model_check.py measures healthy architectures at default init well inside that: a ResNet-18 layout and
pre- and post-LayerNorm Transformer encoders within a few times either way, 2-layer LSTM and GRU nets within about
100x (an LSTM layer at default init passes back roughly a quarter of its output gradient, so stacks of more than
about 4 LSTM layers are flagged as vanishing, which they are). A ReLU MLP of 8 layers initialised at 4x the He std
spreads about 4^7 = 16384x and fails, as does a 16-layer ReLU MLP at PyTorch's default init, which passes back
about 0.41 of the signal per layer (vanishing). The check also clips the model's gradients to half their norm and
asserts clip_grad_norm_'s documented post-condition (remedy.clip-norm), and reports per-layer gradient norms and
the update/weight ratio of one step.
"""

import pytest

from support.model_check.runner import run_check

OUTPUT = "gradient norm at each layer's output"
PARAMS = "gradient norm of each layer's parameters"


@pytest.mark.claim("explosion.definition")
@pytest.mark.claim("explosion.cause.init")
@pytest.mark.claim("explosion.cause.depth")
@pytest.mark.claim("remedy.clip-norm")
def test_gradients_at_init_are_finite_and_do_not_explode_or_vanish_with_depth(model_under_test, figures, record_check):
    result = run_check("gradient-norms-at-init", model_under_test)
    if OUTPUT in result.curves:
        plot = figures.plot(
            f"gradient norms per layer at init: {model_under_test.name}",
            x_label="layer (forward order)",
            y_label="gradient L2 norm (loss units per unit)",
            log_y=True,
            zh=(f"初始化时各层的梯度范数:{model_under_test.name}", "层(前向顺序)", "梯度 L2 范数(损失单位 / 单位)"),
        )
        plot.line("at the layer's output", *result.curves[OUTPUT], zh="该层输出处")
        plot.line("of the layer's own parameters", *result.curves[PARAMS], zh="该层自身的参数")
        if "fitted trend" in result.curves:
            plot.bound("fitted trend (output)", *result.curves["fitted trend"], zh="拟合的趋势(输出处)")
    record_check(result, figures)
    assert result.passed, result.message.en
