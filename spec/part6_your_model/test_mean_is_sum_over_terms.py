"""check: the mean loss divides the summed loss by the number of loss terms

Applies: reduction.mean-is-sum-over-n, mean.denominator.elementwise, mean.denominator.ignore-index,
mean.denominator.class-weight, mean.denominator.kldiv

The subject's loss is evaluated with its own 'mean' (or 'batchmean') and with 'sum' on one forward of the model.
The claims say mean = sum / N for the value and every gradient, where N counts loss terms: batch x elements for
elementwise losses, the non-ignored targets with ignore_index, the class-weight sum with class weights; a KL
divergence sums over a sample's elements, so KLDivLoss's batch mean divides by the batch size
(reduction='batchmean', not 'mean'). The number of terms is counted from the loss's reduction='none' output: an
entry counts unless it is zero whatever the model outputs (a masked or padded position). The gradients are
compared at the model's output in float64; by the chain rule every parameter's gradient is that gradient pulled
back through the same graph, so the factor is the same for every parameter. A failure gives the divisor the loss
uses and the number of terms: a custom masked loss that divides by all positions (padding included) or by the
batch size instead of the terms weights each term wrongly, and the effective learning rate changes with how much
padding a batch has. A loss with reduction='sum' does not divide by anything: the check does not apply (it is
skipped, saying so).
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("reduction.mean-is-sum-over-n")
@pytest.mark.claim("mean.denominator.elementwise")
@pytest.mark.claim("mean.denominator.ignore-index")
@pytest.mark.claim("mean.denominator.class-weight")
@pytest.mark.claim("mean.denominator.kldiv")
def test_the_mean_loss_divides_the_sum_by_the_number_of_terms(model_under_test, figures, record_check):
    result = run_check("mean-is-sum-over-terms", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
