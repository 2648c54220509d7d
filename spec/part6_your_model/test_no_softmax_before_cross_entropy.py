"""check: no softmax before CrossEntropyLoss

Applies: loss.measures-error (the closest claim: CrossEntropyLoss is -log softmax(z)_y of the logits z, and its
value at margin m is log(1 + (C-1) e^-m); a model that feeds it probabilities breaks exactly that)

One forward of the untrained model. CrossEntropyLoss applies log_softmax itself; when every row of the output
(along the class dimension, dim 1) is non-negative and sums to 1 within float rounding, the model already applied
a softmax. The logit margin is then at most 1, so by the claim's formula the loss can never fall below
log(1 + (C-1)/e) (1.46 for C = 10, against ln 10 = 2.30) and the gradients shrink: the check fails. Rows that are
log-probabilities pass with a note: log_softmax of log-probabilities returns them unchanged, so the loss is the
same (only redundant). With NLLLoss the rows must be log-probabilities, and anything else fails. Other losses:
the check does not apply.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("loss.measures-error")
def test_the_model_returns_logits_to_cross_entropy(model_under_test, figures, record_check):
    result = run_check("no-softmax-before-cross-entropy", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
