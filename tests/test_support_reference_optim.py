"""Tests of support.reference_optim: hand-computed steps of the reference SGD and Adam, their agreement
with torch.optim on a few steps, and their input checks."""

import math

import pytest
import torch

from support.errors import SpecInputError, SpecTypeError
from support.reference_optim import ReferenceAdam, ReferenceSGD
from support.tensors import generator
from support.tolerances import assert_close

F64 = torch.float64


def _t(*values):
    return torch.tensor(values, dtype=F64)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: ReferenceSGD(lr=-0.1), SpecInputError, "lr must be a finite number >= 0"),
        (lambda: ReferenceSGD(lr=float("nan")), SpecInputError, "lr must be a finite number"),
        (lambda: ReferenceSGD(lr="0.1"), SpecInputError, "lr must be a finite number"),
        (lambda: ReferenceSGD(lr=0.1, momentum=-1), SpecInputError, "momentum must be a finite number >= 0"),
        (lambda: ReferenceSGD(lr=0.1, weight_decay=-1), SpecInputError, "weight_decay must be a finite number >= 0"),
        (lambda: ReferenceSGD(lr=0.1, nesterov=True), SpecInputError, "nesterov=True requires momentum > 0"),
        (lambda: ReferenceSGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), SpecInputError, "dampening = 0"),
        (lambda: ReferenceSGD(lr=0.1, maximize=1), SpecInputError, "maximize must be a bool"),
        (lambda: ReferenceAdam(betas=(0.9,)), SpecInputError, "betas must be a pair"),
        (lambda: ReferenceAdam(betas=(1.0, 0.999)), SpecInputError, r"betas\[0\] must be a number in \[0, 1\)"),
        (lambda: ReferenceAdam(betas=(0.9, -0.1)), SpecInputError, r"betas\[1\]"),
        (lambda: ReferenceAdam(eps=-1e-8), SpecInputError, "eps must be a finite number >= 0"),
        (lambda: ReferenceAdam(amsgrad=None), SpecInputError, "amsgrad must be a bool"),
        (lambda: ReferenceSGD(lr=0.1).step(_t(1.0), _t(1.0)), SpecTypeError, "sequences of tensors"),
        (lambda: ReferenceSGD(lr=0.1).step([], []), SpecInputError, "params is empty"),
        (lambda: ReferenceSGD(lr=0.1).step([_t(1.0)], []), SpecInputError, "same length"),
        (lambda: ReferenceSGD(lr=0.1).step([_t(1.0)], [_t(1.0, 2.0)]), SpecInputError, r"grads\[0\] has shape"),
        (lambda: ReferenceSGD(lr=0.1).step([_t(1.0)], [[1.0]]), SpecTypeError, r"grads\[0\] must be a torch.Tensor"),
        (
            lambda: ReferenceAdam().step([torch.tensor([1])], [torch.tensor([1])]),
            SpecTypeError,
            r"params\[0\] must be a floating",
        ),
    ],
)
def test_bad_arguments_raise_naming_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_number_of_parameters_cannot_change_between_steps():
    opt = ReferenceAdam()
    opt.step([_t(1.0)], [_t(1.0)])
    with pytest.raises(SpecInputError, match="holds state for 1 parameters, got 2"):
        opt.step([_t(1.0), _t(2.0)], [_t(1.0), _t(2.0)])


@pytest.mark.parametrize(
    "make", [lambda: ReferenceSGD(lr=0.1, momentum=0.9), lambda: ReferenceAdam()], ids=["sgd", "adam"]
)
def test_the_parameters_cannot_change_order_or_shape_between_steps(make):
    # the state is matched by position: [b, W] after [W, b] would broadcast W's state onto b and back
    w, b = torch.ones(4, 8, dtype=F64), torch.ones(8, dtype=F64)
    opt = make()
    opt.step([w, b], [w, b])
    with pytest.raises(
        SpecInputError, match=r"params\[0\] has shape \(8,\) on cpu, but .* state for parameter 0 has shape \(4, 8\)"
    ):
        opt.step([b, w], [b, w])
    # the refused step changed nothing: the right order still works
    assert [t.shape for t in opt.step([w, b], [w, b])] == [(4, 8), (8,)]


# ---------------------------------------------------------------- SGD by hand
def test_plain_sgd_step_is_theta_minus_lr_grad():
    (new,) = ReferenceSGD(lr=0.5).step([_t(1.0, -2.0)], [_t(4.0, 2.0)])
    assert_close(new, _t(1.0 - 2.0, -2.0 - 1.0))


def test_sgd_momentum_dampening_and_weight_decay_by_hand():
    # lr 0.1, mu 0.9, tau 0.5, lambda 0.1, theta0 = 1, grads 2 then 3:
    # t=1: g = 2 + 0.1*1 = 2.1, b1 = 2.1 (no dampening on the first step), theta1 = 1 - 0.21 = 0.79
    # t=2: g = 3 + 0.1*0.79 = 3.079, b2 = 0.9*2.1 + 0.5*3.079 = 3.4295, theta2 = 0.79 - 0.34295 = 0.44705
    opt = ReferenceSGD(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    (theta1,) = opt.step([_t(1.0)], [_t(2.0)])
    assert_close(theta1, _t(0.79))
    (theta2,) = opt.step([theta1], [_t(3.0)])
    assert_close(theta2, _t(0.44705))
    assert_close(opt.buffers[0], _t(3.4295))


def test_sgd_nesterov_by_hand():
    # lr 0.1, mu 0.5, theta0 = 0: t=1: b1 = g = 1, step g + mu b1 = 1.5 -> theta1 = -0.15
    # t=2: b2 = 0.5*1 + 1 = 1.5, step 1 + 0.5*1.5 = 1.75 -> theta2 = -0.15 - 0.175 = -0.325
    opt = ReferenceSGD(lr=0.1, momentum=0.5, nesterov=True)
    (theta1,) = opt.step([_t(0.0)], [_t(1.0)])
    (theta2,) = opt.step([theta1], [_t(1.0)])
    assert_close(theta1, _t(-0.15))
    assert_close(theta2, _t(-0.325))


def test_sgd_maximize_negates_the_gradient_before_weight_decay():
    # documented order: g = -grad, then g + lambda theta: theta1 = 1 - 0.1 * (-2 + 0.5 * 1) = 1.15
    (new,) = ReferenceSGD(lr=0.1, weight_decay=0.5, maximize=True).step([_t(1.0)], [_t(2.0)])
    assert_close(new, _t(1.15))


def test_inputs_are_not_modified_and_the_result_is_float64():
    p, g = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5])
    (new,) = ReferenceSGD(lr=1.0, momentum=0.9).step([p], [g])
    assert new.dtype == F64
    assert torch.equal(p, torch.tensor([1.0, 2.0])) and torch.equal(g, torch.tensor([0.5, 0.5]))
    assert_close(new, _t(0.5, 1.5))


# ---------------------------------------------------------------- Adam by hand
def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps():
    # t=1: m^ = g, v^ = g^2, so the step is -lr g / (|g| + eps)
    g = _t(1e-3, -4.0, 1e-9)
    lr, eps = 0.01, 1e-8
    (new,) = ReferenceAdam(lr=lr, eps=eps).step([torch.zeros(3, dtype=F64)], [g])
    assert_close(new, -lr * g / (g.abs() + eps))


def test_adam_second_step_by_hand():
    # beta1 0.5, beta2 0.75, eps 0, lr 1; grads 1 then 3 (theta does not enter):
    # m2 = 0.5*0.5 + 0.5*3 = 1.75, m^ = 1.75 / 0.75; v2 = 0.75*0.25 + 0.25*9 = 2.4375, v^ = 2.4375 / 0.4375
    opt = ReferenceAdam(lr=1.0, betas=(0.5, 0.75), eps=0.0)
    (theta1,) = opt.step([_t(0.0)], [_t(1.0)])
    (theta2,) = opt.step([theta1], [_t(3.0)])
    assert_close(theta1, _t(-1.0))
    assert_close(theta2, _t(-1.0 - (1.75 / 0.75) / math.sqrt(2.4375 / 0.4375)))


def test_amsgrad_uses_the_running_max_of_v():
    # beta1 = 0 (m_t = g_t), beta2 = 0.5, eps 0, lr 1; grads 4 then 1:
    # v1 = 0.5*16 = 8, v^1 = 8 / 0.5 = 16, theta1 = 0 - 4/4 = -1
    # v2 = 0.5*8 + 0.5*1 = 4.5; amsgrad keeps max(8, 4.5) = 8, v^2 = 8 / 0.75, theta2 = -1 - 1/sqrt(8/0.75)
    # (without amsgrad it would be -1 - 1/sqrt(4.5/0.75) = -1 - 1/sqrt(6))
    opt = ReferenceAdam(lr=1.0, betas=(0.0, 0.5), eps=0.0, amsgrad=True)
    (theta1,) = opt.step([_t(0.0)], [_t(4.0)])
    (theta2,) = opt.step([theta1], [_t(1.0)])
    assert_close(theta1, _t(-1.0))
    assert_close(opt.v[0], _t(4.5))
    assert_close(opt.v_max[0], _t(8.0))
    assert_close(theta2, _t(-1.0 - 1.0 / math.sqrt(8.0 / 0.75)))


def test_adam_l2_and_decoupled_weight_decay_differ_as_documented():
    # theta0 = 2, g = 0, lambda 0.1, lr 0.1. L2: g = 0.2, first step -lr * sign = -0.1 -> 1.9.
    # decoupled: theta <- 2 * (1 - 0.01) = 1.98, and at this first step (moments still 0) the zero gradient gives
    # no Adam step; after earlier steps it would (step.updates-parameters).
    (l2,) = ReferenceAdam(lr=0.1, weight_decay=0.1, eps=0.0).step([_t(2.0)], [_t(0.0)])
    (dec,) = ReferenceAdam(lr=0.1, weight_decay=0.1, eps=1e-8, decoupled_weight_decay=True).step([_t(2.0)], [_t(0.0)])
    assert_close(l2, _t(1.9))
    assert_close(dec, _t(1.98))


# ---------------------------------------------------------------- agreement with torch.optim
def _run_torch(cls, kwargs, grads_seq, theta0):
    p = torch.nn.Parameter(theta0.clone())
    opt = cls([p], **kwargs)
    for g in grads_seq:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def _run_reference(ref, grads_seq, theta0):
    theta = theta0.clone()
    for g in grads_seq:
        (theta,) = ref.step([theta], [g])
    return theta


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True),
    ],
)
def test_reference_sgd_matches_torch_sgd_on_fixed_gradients(kwargs):
    gen = generator(0)
    theta0 = torch.randn(5, generator=gen, dtype=F64)
    grads = [torch.randn(5, generator=gen, dtype=F64) for _ in range(4)]
    assert_close(
        _run_reference(ReferenceSGD(**kwargs), grads, theta0), _run_torch(torch.optim.SGD, kwargs, grads, theta0)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lr=0.01),
        dict(lr=0.01, amsgrad=True, weight_decay=0.1),
        dict(lr=0.01, maximize=True, betas=(0.5, 0.9)),
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ],
)
def test_reference_adam_matches_torch_adam_on_fixed_gradients(kwargs):
    gen = generator(1)
    theta0 = torch.randn(5, generator=gen, dtype=F64)
    grads = [torch.randn(5, generator=gen, dtype=F64) for _ in range(4)]
    # torch.optim.AdamW is Adam with decoupled weight decay (torch 2.5 has no decoupled_weight_decay flag on Adam)
    decoupled = kwargs.get("decoupled_weight_decay", False)
    torch_kwargs = {k: v for k, v in kwargs.items() if k != "decoupled_weight_decay"}
    expected = _run_torch(torch.optim.AdamW if decoupled else torch.optim.Adam, torch_kwargs, grads, theta0)
    assert_close(_run_reference(ReferenceAdam(**kwargs), grads, theta0), expected)
