"""check: one optimizer step changes every trainable parameter and nothing frozen

Applies: step.updates-parameters

The subject's own optimizer (SGD with momentum when it names none) takes one step after one backward, on the model
itself. The claim says step() changes each parameter by its update rule applied to ``.grad`` and skips a parameter
whose ``.grad`` is None. So every trainable parameter must change, while parameters with requires_grad=False and
the ones the subject names ``frozen`` must stay bit-for-bit the same. A failure names them, with the reason: a
trainable one not in the optimizer, without a gradient, in a group with lr 0, a dead unit, or unchanged over 6
steps; a "frozen" one kept in the optimizer whose gradient is zeroed (by a hook, a mask) but which weight decay
still shrinks -- the update rule adds weight_decay x p to a zero gradient, and AdamW decays by default -- or which
still gets a gradient. The parameters check 1 passes with a note (zero at init only, or the loss does not depend on
them) pass here too, and one whose first update rounds away (a tiny gradient next to its weights) passes when one of
the next 5 steps moves it.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("step.updates-parameters")
def test_one_step_moves_every_trainable_parameter_and_no_frozen_one(model_under_test, figures, record_check):
    result = run_check("one-step-updates-parameters", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
