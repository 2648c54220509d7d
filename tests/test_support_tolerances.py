"""Tests of support.tolerances: the dtype table, overrides and their reasons, the accumulation
tolerance, and assert_close's pass/fail boundary and failure message."""

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from support import tolerances
from support.errors import SpecInputError, SpecTypeError
from support.tolerances import Tolerance, assert_close, tolerance_for

F32, F64 = torch.float32, torch.float64


# ---------------------------------------------------------------- the table
@pytest.mark.parametrize(
    "dtype, rtol, atol",
    [(torch.float16, 1e-3, 1e-5), (torch.bfloat16, 1.6e-2, 1e-5), (F32, 1.3e-6, 1e-5), (F64, 1e-7, 1e-7)],
)
def test_tolerance_for_is_the_torch_testing_table(dtype, rtol, atol):
    tol = tolerance_for(dtype)
    assert (tol.rtol, tol.atol) == (rtol, atol)
    assert "dtype default" in tol.reason


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64, "float32"])
def test_tolerance_for_non_float_dtype_is_a_type_error(dtype):
    with pytest.raises(SpecTypeError, match="no tolerance for dtype"):
        tolerance_for(dtype)


def test_exact_dtype_is_float64():
    assert tolerances.EXACT_DTYPE is F64


# ---------------------------------------------------------------- override
def test_override_keeps_values_and_reason():
    tol = tolerances.override(rtol=1e-3, atol=0, reason="sum of a thousand float32 terms")
    assert tol == Tolerance(1e-3, 0.0, "sum of a thousand float32 terms")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rtol=1e-3, atol=1e-3, reason=""), "needs a reason"),
        (dict(rtol=1e-3, atol=1e-3, reason="   short  "), "needs a reason"),
        (dict(rtol=1e-3, atol=1e-3, reason=None), "needs a reason"),
        (dict(rtol=-1e-3, atol=1e-3, reason="a long enough reason"), "rtol must be a finite number >= 0"),
        (dict(rtol=1e-3, atol=float("nan"), reason="a long enough reason"), "atol must be a finite number >= 0"),
    ],
)
def test_override_bad_input(kwargs, match):
    with pytest.raises(SpecInputError, match=match):
        tolerances.override(**kwargs)


def test_override_without_reason_keyword_is_refused():
    with pytest.raises(TypeError):
        tolerances.override(rtol=1e-3, atol=1e-3)  # the reason is required, not defaulted


# ---------------------------------------------------------------- accumulation
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("n, factor", [(1, 1.0), (4, 2.0), (100, 10.0), (10_000, 100.0)])
def test_accumulation_scales_default_by_sqrt_n(dtype, n, factor):
    base, tol = tolerance_for(dtype), tolerances.accumulation(dtype, n)
    assert tol.rtol == pytest.approx(base.rtol * factor, rel=1e-12)
    assert tol.atol == pytest.approx(base.atol * factor, rel=1e-12)
    assert f"sum of {n} terms" in tol.reason


def test_accumulation_is_never_tighter_than_the_default():
    for n in (1, 2, 3):
        tol = tolerances.accumulation(F64, n)
        assert tol.rtol >= 1e-7 and tol.atol >= 1e-7


@pytest.mark.parametrize("n", [0, -5, 2.0, True])
def test_accumulation_rejects_bad_term_counts(n):
    # True is a bool, not a count (the _arguments.positive_int rule the rest of support follows)
    with pytest.raises(SpecInputError, match="n_terms"):
        tolerances.accumulation(F64, n)


def test_accumulation_rejects_integer_dtype():
    with pytest.raises(SpecTypeError, match="dtype"):
        tolerances.accumulation(torch.int32, 4)


# ---------------------------------------------------------------- assert_close
@pytest.mark.parametrize("dtype, ok, bad", [(F64, 1.5e-7, 3e-7), (F32, 5e-6, 5e-5)])
def test_assert_close_uses_the_dtype_default(dtype, ok, bad):
    # allowed |a - e| <= atol + rtol * |e|; at e = 1: 2e-7 for float64, about 1.13e-5 for float32
    expected = torch.ones(3, dtype=dtype)
    assert_close(expected + ok, expected)
    with pytest.raises(AssertionError):
        assert_close(expected + bad, expected)


def test_assert_close_failure_message_contains_override_reason_and_msg():
    tol = tolerances.override(rtol=0, atol=1e-3, reason="loss summed over 1000 samples in float32")
    a, e = torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([1.0, 2.1], dtype=F64)
    assert_close(a, a + 5e-4, tol=tol)  # within the override
    with pytest.raises(AssertionError, match="loss summed over 1000 samples in float32") as info:
        assert_close(a, e, tol=tol, msg="gradient of layer 0")
    text = str(info.value)
    assert "gradient of layer 0" in text and "atol=0.001" in text


def test_assert_close_default_message_names_dtype_default():
    with pytest.raises(AssertionError, match="dtype default"):
        assert_close(torch.tensor([1.0], dtype=F64), torch.tensor([2.0], dtype=F64))


@pytest.mark.parametrize(
    "actual, expected, kwargs, match",
    [
        (1.0, torch.tensor(1.0), {}, "assert_close compares tensors"),
        (torch.tensor(1.0), [1.0], {}, "assert_close compares tensors"),
        (torch.tensor(1.0), torch.tensor(1.0), {"tol": (1e-3, 1e-3)}, "tol must be a Tolerance"),
        (torch.tensor([1, 2]), torch.tensor([1, 2]), {}, "no tolerance for dtype"),
    ],
)
def test_assert_close_bad_input(actual, expected, kwargs, match):
    with pytest.raises(SpecTypeError, match=match):
        assert_close(actual, expected, **kwargs)


def _torch_verdict(actual, expected, tol):
    try:
        torch.testing.assert_close(actual, expected, rtol=tol.rtol, atol=tol.atol)
    except AssertionError:
        return False
    return True


def _our_verdict(actual, expected, tol):
    try:
        assert_close(actual, expected, tol=tol)
    except AssertionError:
        return False
    return True


SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-30, 65504.0, float("inf"), float("-inf"), float("nan")]


@given(
    dtype=st.sampled_from([torch.float16, torch.bfloat16, F32, F64]),
    expected=st.lists(st.one_of(st.sampled_from(SPECIAL), st.floats(-1e3, 1e3)), min_size=1, max_size=6),
    # just past a relative tolerance (rtol * (1 + 5e-4)): inside if the test scaled rtol by |actual|, not |expected|
    nudge=st.lists(
        st.sampled_from([0.0, 1e-9, 1e-7, 2e-7, 1e-6, 1e-5, 1e-3, 1.0005e-3, 1e-2, 1.6008e-2, 1.0]),
        min_size=1,
        max_size=6,
    ),
    relative=st.booleans(),
    tol=st.sampled_from([None, (0.0, 0.0), (1e-3, 0.0), (0.0, 1e-3), (1e-7, 1e-7)]),
)
@example(dtype=F64, expected=[1.0, 4.0], nudge=[1.0005e-3], relative=True, tol=(1e-3, 0.0))  # |a - e| / |e|
@example(dtype=F32, expected=[float("nan"), float("inf")], nudge=[0.0], relative=False, tol=None)
@example(dtype=torch.float16, expected=[65504.0, -0.0], nudge=[1e-7], relative=False, tol=None)
def test_assert_close_passes_and_fails_exactly_where_torch_testing_does(dtype, expected, nudge, relative, tol):
    # the shortcut for passing comparisons (torch.isclose) must not change a single verdict of
    # torch.testing.assert_close, at the boundary of every dtype's tolerance and with inf, nan and -0.0
    e = torch.tensor(expected, dtype=torch.float64)
    d = torch.tensor((nudge * len(expected))[: len(expected)], dtype=torch.float64)
    a = (e + d * (e.abs() if relative else 1.0)).to(dtype)
    e = e.to(dtype)
    tol = (
        tolerance_for(dtype)
        if tol is None
        else tolerances.override(rtol=tol[0], atol=tol[1], reason="a cross-check of verdicts")
    )
    assert _our_verdict(a, e, tol) == _torch_verdict(a, e, tol)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (torch.ones(2, 3, dtype=F64), torch.ones(3, 2, dtype=F64)),  # shape
        (torch.ones(2, dtype=F64), torch.ones(2, dtype=F64).to_sparse()),  # layout
        (torch.tensor([float("nan")], dtype=F64), torch.tensor([float("nan")], dtype=F64)),  # nan is not close to nan
    ],
)
def test_assert_close_fails_with_torch_testings_message(actual, expected):
    with pytest.raises(AssertionError) as ours:
        assert_close(actual, expected, tol=tolerance_for(F64))
    with pytest.raises(AssertionError) as theirs:
        torch.testing.assert_close(actual, expected, rtol=1e-7, atol=1e-7)
    assert str(theirs.value).splitlines()[0] in str(ours.value)


def test_assert_close_rejects_dtype_mismatch():
    with pytest.raises(AssertionError, match="dtype"):
        assert_close(torch.ones(2, dtype=F32), torch.ones(2, dtype=F64))


# ---------------------------------------------------------------- inequalities
def test_assert_le_allows_the_slack_and_no_more():
    room = tolerances.slack(rel=1e-3, abs=1e-6, reason="a test of the boundary")
    tolerances.assert_le(1.0 + 1e-3 + 1e-6 - 1e-12, 1.0, slack=room)
    with pytest.raises(AssertionError, match="a test of the boundary"):
        tolerances.assert_le(1.0 + 1e-3 + 2e-6, 1.0, slack=room)
    tolerances.assert_ge(1.0 - 1e-3 - 1e-6 + 1e-12, 1.0, slack=room)
    with pytest.raises(AssertionError, match=r"expected actual >= bound"):
        tolerances.assert_ge(1.0 - 2e-3, 1.0, slack=room)


def test_assert_le_default_is_float64_rounding_and_exact_allows_none():
    tolerances.assert_le(1.0 + 1e-13, 1.0)  # within ROUNDING's 1e-12
    with pytest.raises(AssertionError, match="float64 rounding"):
        tolerances.assert_le(1.0 + 1e-11, 1.0)
    with pytest.raises(AssertionError, match="exact"):
        tolerances.assert_le(1.0 + 1e-15, 1.0, slack=tolerances.EXACT)


def test_assert_le_on_tensors_names_the_worst_element_and_fails_on_nan():
    bound = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    actual = torch.tensor([[0.5, 2.5], [3.2, 1.0]], dtype=F64)
    with pytest.raises(AssertionError, match=r"at index \(0, 1\): 2.5 vs 2 \(2 of 4 violate it\)"):
        tolerances.assert_le(actual, bound)
    tolerances.assert_le(actual, 4.0)  # a number broadcasts
    with pytest.raises(AssertionError):
        tolerances.assert_le(torch.tensor([float("nan")]), 1.0)
    with pytest.raises(AssertionError):
        tolerances.assert_ge(1.0, float("nan"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rel": -1.0, "reason": "negative room is wrong"}, "rel must be a finite number >= 0"),
        ({"abs": float("inf"), "reason": "infinite room is wrong"}, "abs must be a finite number >= 0"),
        ({"rel": 1e-3, "reason": "why"}, "needs a reason"),
    ],
)
def test_bad_slack_is_an_error_naming_it(kwargs, message):
    with pytest.raises(SpecInputError, match=message):
        tolerances.slack(**kwargs)


def test_assert_le_rejects_what_it_cannot_compare():
    with pytest.raises(SpecTypeError, match="slack must be a Slack"):
        tolerances.assert_le(1.0, 2.0, slack=1e-3)
    with pytest.raises(SpecTypeError, match="actual must be a number or a tensor"):
        tolerances.assert_le("1", 2.0)
    with pytest.raises(SpecInputError, match="cannot broadcast"):
        tolerances.assert_le(torch.ones(2), torch.ones(3))
    # (3,) against (3, 1) would broadcast to 3 x 3 pairs: refused, not silently compared all against all
    with pytest.raises(SpecInputError, match=r"must compare elementwise.*\(3,\) and \(3, 1\)"):
        tolerances.assert_le(torch.arange(3.0), torch.arange(3.0)[:, None])
    tolerances.assert_le(torch.zeros(2, 3), torch.ones(2, 1))  # a bound per row broadcasts into actual
    tolerances.assert_ge(0.5, torch.zeros(4))  # one number against every bound


@pytest.mark.parametrize("side", ["actual", "bound"])
@pytest.mark.parametrize("bad", [torch.tensor([1.0 + 5.0j]), torch.tensor([True])], ids=["complex", "bool"])
def test_inequalities_reject_complex_and_bool_tensors(side, bad):
    # 1 + 5j <= 2 would pass once the imaginary part is dropped, True <= 2 once True counts as 1: both are refused
    args = (bad, 2.0) if side == "actual" else (0.0, bad)
    for check in (tolerances.assert_le, tolerances.assert_ge):
        with pytest.raises(SpecTypeError, match=rf"{side} must be a real number or a real tensor, got .* {bad.dtype}"):
            check(*args, slack=tolerances.slack(abs=10.0, reason="room enough for either side to pass"))


def test_strict_inequalities_reject_equality_at_the_edge_of_the_room():
    room = tolerances.slack(abs=0.5, reason="a test of the strict edge")
    tolerances.assert_le(1.5, 1.0, slack=room)
    with pytest.raises(AssertionError, match="expected actual < bound"):
        tolerances.assert_le(1.5, 1.0, slack=room, strict=True)
    tolerances.assert_le(1.4, 1.0, slack=room, strict=True)
    with pytest.raises(AssertionError, match="expected actual > bound"):
        tolerances.assert_ge(0.5, 1.0, slack=room, strict=True)
