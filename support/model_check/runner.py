"""Running a check: ``run_check(check_id, subject)`` runs one check of ``support.model_check.checks`` the way the
spec does -- on the subject's own model, put back afterwards (``subject.preserved``), with the random draws of the
check seeded from its id alone (``checks._numerics.check_seed``), and with an error of the checker's own machinery
reported as ``Outcome.COULD_NOT_RUN``, never as a FAIL of the model.
"""

from __future__ import annotations

import traceback

from support.model_check.catalog import CATALOG, info
from support.model_check.checks.can_overfit_one_batch import can_overfit_one_batch
from support.model_check.checks.every_parameter_gets_a_gradient import every_parameter_gets_a_gradient
from support.model_check.checks.gradient_norms_at_init import gradient_norms_at_init
from support.model_check.checks.loss_at_init_is_near_log_c import loss_at_init_is_near_log_c
from support.model_check.checks.mean_is_sum_over_terms import mean_is_sum_over_terms
from support.model_check.checks.no_softmax_before_cross_entropy import no_softmax_before_cross_entropy
from support.model_check.checks.one_step_updates_parameters import one_step_updates_parameters
from support.model_check.checks.per_sample_gradients_add_up import per_sample_gradients_add_up
from support.model_check.checks.result import CheckResult, Outcome, Recorder, Text
from support.model_check.checks.samples_are_independent import samples_are_independent
from support.model_check.subject import ModelUnderTest, preserved

_FUNCTIONS = {f.__name__: f for f in (
    every_parameter_gets_a_gradient, one_step_updates_parameters, mean_is_sum_over_terms, samples_are_independent,
    per_sample_gradients_add_up, loss_at_init_is_near_log_c, no_softmax_before_cross_entropy, gradient_norms_at_init,
    can_overfit_one_batch)}
# every catalog entry has its function, in the catalog's order
CHECKS = {c.id: _FUNCTIONS[c.module] for c in CATALOG}


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename}:{f.lineno} in {f.name}"


def run_check(check_id: str, subject: ModelUnderTest) -> CheckResult:
    """Run one check on the subject's own model and put the model back afterwards. An exception inside the check is
    the checker's failure, not the model's: it becomes ``Outcome.COULD_NOT_RUN`` naming the error and where it
    happened."""
    entry = info(check_id)
    with preserved(subject):
        try:
            return CHECKS[entry.id](subject)
        except Exception as exc:  # the checker's own limit on this model
            what = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
            return Recorder(entry).could_not_run(Text(
                f"the check could not run on this model ({what}{_where(exc)}); this says nothing about the model",
                f"该检查无法在这个模型上运行({what}{_where(exc)});这并不说明模型有问题"))


__all__ = ["CHECKS", "CheckResult", "Outcome", "run_check"] + list(_FUNCTIONS)
