"""Tests of support.losses: every LossCase's first-principles reference against the torch module,
terms per sample, the documented reductions, prediction shapes, seeded batches and the input checks;
and of the support.hypothesis_helpers strategies that draw loss cases and their shapes."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support import losses
from support.errors import SpecInputError
from support.losses import LOSS_CASES
from support.tolerances import assert_close

F64 = torch.float64
CASE_IDS = [c.name for c in LOSS_CASES]


def _feature_shape(case):
    return (4,) if case.kind == "class" else (3, 2)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: losses.check_reduction("avg"), "reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
        (lambda: losses.check_reduction(None), "reduction must be one of .*, got None"),
        (lambda: losses.loss_case("MSE"), "loss must be one of .*, got 'MSE'; did you mean 'MSELoss'"),
        (lambda: losses.loss_case("CrossEntropyLoss").make("batchmean"), "reduction must be .*, got 'batchmean'"),
        (lambda: losses.reduce_reference(torch.ones(3), "max"), "reduction must be one of .*, got 'max'"),
        (lambda: losses.loss_case("MSELoss").prediction_shape(0, (3,)), "batch_size"),
        (lambda: losses.loss_case("MSELoss").prediction_shape(2.0, (3,)), "batch_size"),
        (lambda: losses.loss_case("MSELoss").prediction_shape(2, [3]), "feature_shape"),
        (lambda: losses.loss_case("MSELoss").prediction_shape(2, (3, 0)), "feature_shape"),
        (lambda: losses.loss_case("L1Loss").sample_batch(2, (3,), seed=0, dtype=torch.float16), "dtype"),
        (lambda: losses.loss_case("NLLLoss").sample_batch(2, (3,), seed=0, dtype=torch.int64), "dtype"),
        (lambda: losses.loss_case("MSELoss").terms_per_sample(torch.tensor(1.0)), "non-empty batch"),
        (lambda: losses.loss_case("MSELoss").terms_per_sample(torch.zeros(0, 3)), "non-empty batch"),
    ],
)
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss"])
@pytest.mark.parametrize("feature_shape", [(1,), (3, 2), ()])
def test_prediction_shape_rejects_bad_feature_shapes_for_class_losses(name, feature_shape):
    with pytest.raises(SpecInputError, match=rf"{name}: feature_shape must be \(C,\)"):
        losses.loss_case(name).prediction_shape(4, feature_shape)


@pytest.mark.parametrize(
    "batch_size, feature_shape, match", [(True, (3,), "batch_size"), (2, (True,), "feature_shape")]
)
def test_prediction_shape_rejects_bool_sizes(batch_size, feature_shape, match):
    # _arguments.positive_int rejects bools everywhere else in support; a bool is not a size here either
    with pytest.raises(SpecInputError, match=match):
        losses.loss_case("MSELoss").prediction_shape(batch_size, feature_shape)


# ---------------------------------------------------------------- the table
def test_table_names_and_kinds():
    assert len({c.name for c in LOSS_CASES}) == len(LOSS_CASES)
    assert {c.name for c in LOSS_CASES if c.kind == "class"} == {"CrossEntropyLoss", "NLLLoss"}
    assert all(c.kind in ("class", "elementwise") for c in LOSS_CASES)
    assert all(losses.loss_case(c.name) is c for c in LOSS_CASES)
    # every elementwise loss records that 'none' is per element, not per sample
    assert all(losses.ELEMENTWISE_DEVIATION in c.deviations for c in LOSS_CASES if c.kind == "elementwise")


@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
def test_make_builds_the_module_with_the_reduction(case):
    for reduction in losses.REDUCTIONS:
        module = case.make(reduction)
        assert isinstance(module, case.module) and module.reduction == reduction
    assert case.make().reduction == "mean"


# ---------------------------------------------------------------- references vs. modules
@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
def test_reference_terms_match_module_with_reduction_none(case):
    pred, target = case.sample_batch(6, _feature_shape(case), seed=3)
    expected = case.make("none")(pred, target)
    assert_close(case.reference_terms(pred, target), expected)


@pytest.mark.parametrize(
    "case", [c for c in LOSS_CASES if c.name in ("SmoothL1Loss", "HuberLoss")], ids=lambda c: c.name
)
def test_reference_terms_match_module_across_the_quadratic_linear_switch(case):
    # |x - y| on both sides of 1 (the default beta/delta), where the piecewise formulas switch
    pred = torch.tensor([0.0, 0.5, 0.999, 1.001, 3.0, -2.5], dtype=F64)
    target = torch.zeros(6, dtype=F64)
    assert_close(case.reference_terms(pred, target), case.make("none")(pred, target))


def test_reference_terms_by_hand():
    x = torch.tensor([[0.0, 3.0]], dtype=F64)
    y = torch.tensor([[1.0, 0.5]], dtype=F64)  # differences -1 and 2.5
    assert losses.loss_case("MSELoss").reference_terms(x, y).tolist() == [[1.0, 6.25]]
    assert losses.loss_case("L1Loss").reference_terms(x, y).tolist() == [[1.0, 2.5]]
    assert losses.loss_case("SmoothL1Loss").reference_terms(x, y).tolist() == [[0.5, 2.0]]  # d=1: not < beta
    assert losses.loss_case("HuberLoss").reference_terms(x, y).tolist() == [[0.5, 2.0]]  # d=1: 0.5 d^2
    # cross-entropy of equal logits over C classes is log C
    ce = losses.loss_case("CrossEntropyLoss").reference_terms(torch.zeros(2, 4, dtype=F64), torch.tensor([0, 3]))
    assert ce.tolist() == pytest.approx([math.log(4)] * 2)
    # BCE with logit 0 is log 2 whatever the target
    bce = losses.loss_case("BCEWithLogitsLoss").reference_terms(
        torch.zeros(2, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    )
    assert bce.tolist() == pytest.approx([math.log(2)] * 2)


def test_bce_reference_is_finite_for_large_logits():
    z = torch.tensor([-800.0, 800.0], dtype=F64)
    y = torch.tensor([1.0, 0.0], dtype=F64)  # both wrong by a margin of 800: loss 800 each
    assert_close(losses.loss_case("BCEWithLogitsLoss").reference_terms(z, y), torch.tensor([800.0, 800.0], dtype=F64))


@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduced_reference_matches_module(case, reduction):
    pred, target = case.sample_batch(5, _feature_shape(case), seed=8)
    expected = case.make(reduction)(pred, target)
    assert_close(losses.reduce_reference(case.reference_terms(pred, target), reduction), expected)


def test_reduce_reference_by_hand():
    terms = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=F64)
    assert losses.reduce_reference(terms, "sum").item() == 12.0
    assert losses.reduce_reference(terms, "mean").item() == 3.0  # 12 / 4 terms, not 12 / 2 rows
    assert losses.reduce_reference(terms, "none") is terms


# ---------------------------------------------------------------- shapes and terms per sample
@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
def test_terms_per_sample(case):
    pred, _ = case.sample_batch(3, _feature_shape(case), seed=0)
    expected = 1 if case.kind == "class" else math.prod(_feature_shape(case))
    assert case.terms_per_sample(pred) == expected
    # and it agrees with the number of unreduced terms the module returns per sample
    assert case.make("none")(*case.sample_batch(3, _feature_shape(case), seed=0)).numel() == 3 * expected


@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
def test_sample_batch_shapes_dtypes_and_determinism(case):
    fs = _feature_shape(case)
    pred, target = case.sample_batch(4, fs, seed=1, dtype=torch.float32)
    assert pred.shape == case.prediction_shape(4, fs) == (4, *fs)
    assert pred.dtype == torch.float32
    if case.kind == "class":
        assert target.shape == (4,) and target.dtype == torch.int64
        assert target.min() >= 0 and target.max() < fs[0]
    else:
        assert target.shape == pred.shape and target.dtype == torch.float32
    again = case.sample_batch(4, fs, seed=1, dtype=torch.float32)
    other = case.sample_batch(4, fs, seed=2, dtype=torch.float32)
    assert torch.equal(pred, again[0]) and torch.equal(target, again[1])
    assert not torch.equal(pred, other[0])


def test_nll_input_is_log_probabilities():
    pred, _ = losses.loss_case("NLLLoss").sample_batch(5, (3,), seed=0)
    assert_close(pred.exp().sum(1), torch.ones(5, dtype=F64))
    assert (pred <= 0).all()


def test_bce_targets_are_zero_or_one():
    _, target = losses.loss_case("BCEWithLogitsLoss").sample_batch(8, (5,), seed=0)
    assert set(target.unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- hypothesis strategies
@given(data=st.data(), batch_size=hh.batch_sizes(max_size=8), seed=hh.seeds(), dtype=hh.dtypes())
def test_drawn_loss_case_batch_is_accepted_by_its_module(data, batch_size, seed, dtype):
    case = data.draw(hh.loss_cases())
    feature_shape = data.draw(hh.feature_shapes(case, max_side=4))
    pred, target = case.sample_batch(batch_size, feature_shape, seed=seed, dtype=dtype)
    assert pred.shape == case.prediction_shape(batch_size, feature_shape)
    assert pred.dtype == dtype
    terms = case.make("none")(pred, target)  # raises if the module rejects the pair
    assert terms.numel() == batch_size * case.terms_per_sample(pred)
    assert torch.isfinite(terms).all()


@pytest.mark.parametrize("case", LOSS_CASES, ids=CASE_IDS)
def test_feature_shapes_strategy_respects_the_loss_kind(case):
    shapes = []

    @given(hh.feature_shapes(case, max_dims=2, max_side=3))
    def collect(shape):
        shapes.append(shape)

    collect()
    for shape in shapes:
        assert isinstance(shape, tuple) and all(1 <= d <= 4 for d in shape)
        if case.kind == "class":
            assert len(shape) == 1 and 2 <= shape[0] <= 4
        else:
            assert 1 <= len(shape) <= 2 and max(shape) <= 3


@given(
    reduction=hh.reductions(),
    reduced=hh.reductions(include_none=False),
    exact=hh.dtypes(exact_only=True),
    dtype=hh.dtypes(),
)
def test_reductions_and_dtypes_strategies_draw_from_the_documented_sets(reduction, reduced, exact, dtype):
    assert reduction in losses.REDUCTIONS
    assert reduced in ("mean", "sum")
    assert exact is torch.float64
    assert dtype in (torch.float32, torch.float64)


# ---------------------------------------------------------------- losses on (log-)probabilities
PROB_IDS = [c.name for c in losses.PROBABILITY_LOSS_CASES]


def test_probability_cases_are_elementwise_and_outside_the_main_table():
    assert [c.name for c in losses.PROBABILITY_LOSS_CASES] == ["KLDivLoss", "BCELoss"]
    assert all(
        c.kind == "elementwise" and losses.ELEMENTWISE_DEVIATION in c.deviations for c in losses.PROBABILITY_LOSS_CASES
    )
    assert not {c.name for c in losses.PROBABILITY_LOSS_CASES} & {c.name for c in LOSS_CASES}


@pytest.mark.parametrize("case", losses.PROBABILITY_LOSS_CASES, ids=PROB_IDS)
def test_probability_case_inputs_and_targets_lie_in_range(case):
    pred, target = case.sample_batch(6, (4,), seed=5)
    again = case.sample_batch(6, (4,), seed=5)
    assert torch.equal(pred, again[0]) and torch.equal(target, again[1])
    assert pred.shape == target.shape == (6, 4) and target.dtype == F64
    if case.name == "KLDivLoss":  # rows of log-probabilities; rows of probabilities
        assert_close(pred.exp().sum(1), torch.ones(6, dtype=F64))
        assert_close(target.sum(1), torch.ones(6, dtype=F64))
        assert (target > 0).all()
    else:  # probabilities in (0, 1); 0/1 labels, both present
        assert ((pred > 0) & (pred < 1)).all()
        assert set(target.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("case", losses.PROBABILITY_LOSS_CASES, ids=PROB_IDS)
@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
def test_probability_case_references_match_the_modules(case, reduction, recwarn):
    pred, target = case.sample_batch(5, (3,), seed=8)
    expected = case.make(reduction)(pred, target)
    assert_close(losses.reduce_reference(case.reference_terms(pred, target), reduction), expected)


def test_probability_case_references_by_hand():
    kl, bce = losses.PROBABILITY_LOSS_CASES
    # KL(p || q) terms p (log p - log q): p = (1/2, 1/2, 0), q uniform over 3: (1/2) log(3/2) twice, and 0 for p = 0
    p = torch.tensor([[0.5, 0.5, 0.0]], dtype=F64)
    log_q = torch.full((1, 3), -math.log(3), dtype=F64)
    assert kl.reference_terms(log_q, p)[0].tolist() == pytest.approx([0.5 * math.log(1.5)] * 2 + [0.0])
    # BCE of probability 1/2 is log 2 whatever the label; a certain wrong answer is clamped at 100
    half = torch.full((2,), 0.5, dtype=F64)
    assert bce.reference_terms(half, torch.tensor([0.0, 1.0], dtype=F64)).tolist() == pytest.approx([math.log(2)] * 2)
    wrong = bce.reference_terms(torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64))
    assert wrong.tolist() == [100.0, 100.0]
    assert_close(
        wrong,
        torch.nn.BCELoss(reduction="none")(torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64)),
    )


def test_probability_case_target_rejects_bad_arguments():
    with pytest.raises(SpecInputError, match="batch_size"):
        losses.PROBABILITY_LOSS_CASES[0].target(0, (3,), seed=0)
    with pytest.raises(SpecInputError, match="dtype"):
        losses.PROBABILITY_LOSS_CASES[1].target(2, (3,), seed=0, dtype=torch.int64)
