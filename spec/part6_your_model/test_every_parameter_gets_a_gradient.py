"""check: every trainable parameter gets a finite gradient from one batch backward

Applies: backward.fills-grad

One forward of the batch in train mode, the loss, one ``backward()``: the claim says backward fills ``.grad`` of
every leaf with requires_grad=True (frozen ones keep None). On a working model every trainable parameter then
holds a finite gradient that is not identically zero. A failure names the parameters that learn nothing:
``.grad`` None (defined but not used in the forward, or cut off by ``.detach()``/``torch.no_grad()``), every
element exactly 0 (a dead ReLU or clamp, a multiplication by 0), or NaN/inf. Parameters the subject names as
``frozen`` are exempt.
"""

import pytest

from support.model_check.checks import every_parameter_gets_a_gradient


@pytest.mark.claim("backward.fills-grad")
def test_every_trainable_parameter_gets_a_finite_nonzero_gradient(model_under_test, figures, record_check):
    result = every_parameter_gets_a_gradient(model_under_test)
    record_check(result, figures)
    assert result.passed, result.message
