"""Running a check: ``run_check(check_id, subject)`` runs one check of ``support.model_check.checks`` the way the
spec does -- on the subject's own model, put back afterwards (``subject.preserved``), with the random draws of the
check seeded from its id alone (``checks._numerics.check_seed``); an error raised inside a check is the model's (a
FAIL) when a plain forward, loss and backward raise it too, else the checker's own limit, ``Outcome.COULD_NOT_RUN``.
"""

from __future__ import annotations

from support.errors import describe_error
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

_FUNCTIONS = {
    f.__name__: f
    for f in (
        every_parameter_gets_a_gradient,
        one_step_updates_parameters,
        mean_is_sum_over_terms,
        samples_are_independent,
        per_sample_gradients_add_up,
        loss_at_init_is_near_log_c,
        no_softmax_before_cross_entropy,
        gradient_norms_at_init,
        can_overfit_one_batch,
    )
}
# every catalog entry has its function, in the catalog's order
CHECKS = {c.id: _FUNCTIONS[c.module] for c in CATALOG}


def run_check(check_id: str, subject: ModelUnderTest) -> CheckResult:
    """Run one check on the subject's own model and put the model back afterwards. An exception inside the check is
    the model's when one plain train-mode forward, loss and backward of the batch raises it too (a FAIL naming the
    error); otherwise it is the checker's own limit on this model: ``Outcome.COULD_NOT_RUN``, naming the error and
    where it happened."""
    entry = info(check_id)
    with preserved(subject):
        try:
            return CHECKS[entry.id](subject)
        except Exception as exc:
            error = describe_error(exc, first_line=True)
    own = _plain_backward_error(subject)
    if own is not None:
        return Recorder(entry).failed(
            Text(
                f"the model's own forward, loss and backward fail on the batch in train mode ({own}): it cannot train "
                f"(backward.fills-grad)",
                f"模型自身在 train 模式下对该 batch 的前向、损失和反向传播出错({own}):它无法训练(backward.fills-grad)",
            )
        )
    return Recorder(entry).could_not_run(
        Text(
            f"the check could not run on this model ({error}), while a plain forward, loss and backward of the batch "
            f"run: a limit of the checker on this model, which says nothing about the model",
            f"该检查无法在这个模型上运行({error}),而对该 batch 的普通前向、损失和反向传播都能运行:"
            f"这是检查器对这个模型的局限,并不说明模型有问题",
        )
    )


def _plain_backward_error(subject: ModelUnderTest) -> str | None:
    """The error one train-mode forward, loss and backward of the batch raise on the subject's model, or None."""
    with preserved(subject):
        try:
            subject.model.train()
            loss = subject.loss(subject.forward(), subject.targets)
            if loss.requires_grad:
                loss.backward()
        except Exception as exc:  # the user's code
            return describe_error(exc, first_line=True)
    return None


__all__ = ["CHECKS", "CheckResult", "Outcome", "run_check"] + list(_FUNCTIONS)
