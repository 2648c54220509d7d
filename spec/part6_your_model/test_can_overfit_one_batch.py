"""check: the model can overfit one batch

Applies: step.updates-parameters (each step applies its update rule; memorising one batch is a property of the
model, loss and optimizer, not a claim about held-out trends, so no held-out claim is tagged)

The model trains on its one batch with its own optimizer, in train mode, for at most 200 steps, and stops as
soon as the loss has fallen 10-fold from its first value and (for a classifier) every counted target is predicted
right (padded positions with ignore_index are not counted). A batch of a few samples is memorised by a model that
can learn: a healthy model with a working optimizer does it in tens of steps, so 200 leaves an order of magnitude
of room. The curve of the loss (relative to step 0) and of the accuracy is a figure of the report. A failure
reports how far the loss fell and the accuracy reached: the output does not depend on the input, layers do not
train (dead units, a detach, a frozen layer), or the learning rate does not suit the optimizer.
"""

import pytest

from support.model_check.checks import OVERFIT_FACTOR, can_overfit_one_batch

LOSS = "loss / loss at step 0"
ACCURACY = "accuracy on the batch"


@pytest.mark.claim("step.updates-parameters")
def test_the_model_memorises_one_batch(model_under_test, figures, record_check):
    result = can_overfit_one_batch(model_under_test)
    steps, ratio = result.curves[LOSS]
    plot = figures.plot(f"overfitting one batch: {model_under_test.name}", x_label="optimizer step",
                        y_label="ratio (1)", log_y=True,
                        zh=(f"在一个 batch 上过拟合:{model_under_test.name}", "优化器步数", "比值(1)"))
    plot.line("loss / loss at step 0", steps, ratio, zh="损失 / 第 0 步的损失")
    if ACCURACY in result.curves:
        plot.line("accuracy on the batch", *result.curves[ACCURACY], zh="该 batch 上的准确率")
    plot.bound(f"target: loss / {OVERFIT_FACTOR:g}", [steps[0], steps[-1]], [1 / OVERFIT_FACTOR] * 2,
               zh=f"目标:损失 / {OVERFIT_FACTOR:g}")
    record_check(result, figures)
    assert result.passed, result.message
