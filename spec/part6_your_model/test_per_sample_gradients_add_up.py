"""check: per-sample gradients add up to the batch gradient

Applies: per-sample.backward-accumulates, per-sample.vmap

In eval mode and float64, the gradient of each of the first 3 samples' summed loss, computed alone with
``torch.func.vmap(grad(...))`` (or, where vmap cannot run the model -- an LSTM, in-place updates -- a loop of
batches of one), must add up to the gradient of the three samples' summed loss computed as one batch. A failure
names the parameters whose gradients differ: a sample's loss depends on the other samples (the batch is mixed),
or the model computes something else on a batch of one (a ``squeeze()`` that drops the batch dimension, a shape
hard-coded to the batch size); a model that cannot run on one sample at all fails with its error.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("per-sample.backward-accumulates")
@pytest.mark.claim("per-sample.vmap")
def test_per_sample_gradients_sum_to_the_batch_gradient(model_under_test, figures, record_check):
    result = run_check("per-sample-gradients-add-up", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
