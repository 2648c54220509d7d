"""check: the model can overfit one batch

Applies: step.updates-parameters (each step applies its update rule; memorising one batch is a property of the
model, loss and optimizer, not a claim about held-out trends, so no held-out claim is tagged)

The model trains on its one batch in train mode for at most 200 steps and stops as soon as the gap between its loss
and the lowest loss the loss function can reach on these targets has closed 10-fold and (where the loss says which
class each row is scored against) every counted target is predicted right; padded positions with ignore_index are
not counted. The lowest reachable loss is measured: Adam on a free output tensor, in float64 -- 0 for hard labels,
the entropy of the smoothed targets under label smoothing (where "loss / 10" can never be reached). A batch of a few
samples is memorised by a model that can learn: a healthy model does it in tens of steps, so 200 leaves an order of
magnitude of room. The subject's own optimizer goes first; a fine-tuning learning rate (AdamW at 5e-5) is too small
to memorise in 200 steps, so when it does not get there without diverging the check trains again from the same start
with Adam at lr 1e-3 and says so: the model can learn. A run that diverges with the subject's optimizer fails. A
failure reports how far the loss fell and the accuracy reached: the output does not depend on the input, layers do
not train (dead units, a detach, a frozen layer), or the loss compares the wrong things.
"""

import pytest

from support.model_check.checks.can_overfit_one_batch import GAP_FACTOR
from support.model_check.runner import run_check

LOSS = "loss / loss at step 0"
ACCURACY = "accuracy on the batch"


@pytest.mark.claim("step.updates-parameters")
def test_the_model_memorises_one_batch(model_under_test, figures, record_check):
    result = run_check("can-overfit-one-batch", model_under_test)
    if LOSS in result.curves:
        steps, ratio = result.curves[LOSS]
        plot = figures.plot(
            f"overfitting one batch: {model_under_test.name}",
            x_label="optimizer step",
            y_label="ratio (1)",
            log_y=True,
            zh=(f"在一个 batch 上过拟合:{model_under_test.name}", "优化器步数", "比值(1)"),
        )
        plot.line("loss / loss at step 0", steps, ratio, zh="损失 / 第 0 步的损失")
        if ACCURACY in result.curves:
            plot.line("accuracy on the batch", *result.curves[ACCURACY], zh="该 batch 上的准确率")
        floor = result.numbers["lowest reachable loss"][0]
        start = result.numbers["loss at step 0"][0]
        if start > 0:  # the target on the plotted ratio: floor + (start - floor) / GAP_FACTOR, over the start
            target = (floor + (start - floor) / GAP_FACTOR) / start
            plot.bound(
                f"target: gap to the lowest loss / {GAP_FACTOR:g}",
                [steps[0], steps[-1]],
                [target] * 2,
                zh=f"目标:与最低损失之差 / {GAP_FACTOR:g}",
            )
    record_check(result, figures)
    assert result.passed, result.message.en
