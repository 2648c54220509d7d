"""check: every trainable parameter gets a finite gradient from one batch backward

Applies: backward.fills-grad

One forward of the batch in train mode, the loss, one ``backward()`` on the model itself (hooks on its tensors in
force): the claim says backward fills ``.grad`` of every leaf with requires_grad=True (frozen ones keep None). On a
working model every trainable parameter then holds a finite gradient through which the loss acts. A failure names
the parameters that learn nothing: ``.grad`` None (defined but not used in the forward, or cut off by
``.detach()``/``torch.no_grad()``), NaN/inf, or a zero gradient where the loss does depend on the parameter (a dead
ReLU or clamp: shifting it moves the loss), a hook that zeroes it, or an underflow. A gradient that is zero or only
rounding is measured before it is judged (support/model_check/checks/_zero_gradients.py): its value in float64 (a
small real gradient, like a layer-scale branch's, passes), a large random shift of the parameter, and one optimizer
step. Two kinds pass with a note: parameters zero at init only (a zero-initialised layer blocks their path, as in
timm's zero_init_last; one step opens it) and parameters the loss does not depend on at all (a bias before a
normalisation, attention's key bias: shifting them leaves the loss unchanged, at init and after a step). Parameters
the subject names as ``frozen`` are exempt.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("backward.fills-grad")
def test_every_trainable_parameter_gets_a_finite_nonzero_gradient(model_under_test, figures, record_check):
    result = run_check("every-parameter-gets-a-gradient", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
