"""check: samples of a batch are independent: output i does not depend on input j

Applies: coupling.dependencies, coupling.batchnorm

"Backprop to chart dependencies" (support.dependencies) on the first 4 samples of the batch: for every sample i,
one random probe of its output is backpropagated to the inputs (to the output of the first embedding layer when
the inputs are token ids). In eval mode a model that treats samples independently gives exactly zero gradient on
every other sample's input (coupling.dependencies); a failure lists the pairs (i, j) where sample i's output
depends on sample j's input: the model mixes the batch, typically by a reshape/view of a tensor whose batch
dimension is not first. In train mode BatchNorm normalises with the batch's statistics and couples every pair
(coupling.batchnorm): that coupling is reported and passes when BatchNorm layers explain it, and fails when the
model has none.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("coupling.dependencies")
@pytest.mark.claim("coupling.batchnorm")
def test_no_sample_output_depends_on_another_sample_input(model_under_test, figures, record_check):
    result = run_check("samples-are-independent", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
