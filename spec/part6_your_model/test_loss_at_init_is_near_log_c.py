"""check: a classifier's loss at initialisation is near ln C

Applies: loss.at-init, loss.measures-error

One forward of the untrained model in train mode. The claim says cross-entropy is log(1 + (C-1) e^-m) at a logit
margin m: an honest first guess (equal logits, m = 0) costs exactly ln C, the loss of a uniform prediction
(computed with the subject's own loss, so class weights and ignore_index are taken into account). Logits drawn
independently of the target with standard deviation s cost about ln C + s^2/2 for small s (a second-order
expansion of logsumexp; less than that for large s), so healthy default inits (s well below 1) land within tens of
percent of ln C, while large logits cost in proportion to s (the expected largest of the C logits), many times ln
C. The check fails above 2 x ln C, which takes s of at least sqrt(2 ln C) (2.1 for C = 10): the untrained model is
confidently wrong, and the first steps are spent shrinking the logits. It reports the logits' scale (standard
deviation across classes); a loss far above ln C points at an over-confident last layer, unnormalised inputs or a
loss that sums instead of averaging (loss.at-init). Regression models have no ln C: the check does not apply to them.
"""

import pytest

from support.model_check.runner import run_check


@pytest.mark.claim("loss.at-init")
@pytest.mark.claim("loss.measures-error")
def test_the_loss_at_init_is_near_log_c(model_under_test, figures, record_check):
    result = run_check("loss-at-init-is-near-log-c", model_under_test)
    record_check(result, figures)
    assert result.passed, result.message.en
