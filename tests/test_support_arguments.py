"""Tests of support._arguments: each check returns the value it accepts and raises SpecInputError naming the argument
and the bounds it refused (SpecTypeError, a subclass, for a value of the wrong type)."""

import math

import pytest

from support import _arguments
from support.errors import SpecInputError, SpecTypeError


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: _arguments.integer("k", 0, at_least=0, below=3), 0),
        (lambda: _arguments.integer("k", 3, at_least=0, at_most=3), 3),
        (lambda: _arguments.integer("k", -5), -5),
        (lambda: _arguments.positive_int("n", 1), 1),
        (lambda: _arguments.seed(-1), -1),  # manual_seed remaps negative seeds
        (lambda: _arguments.seed(2**64 - 1), 2**64 - 1),
        (lambda: _arguments.number("p", 1, at_least=0, at_most=1), 1.0),
        (lambda: _arguments.number("c", 0.5, above=0, below=1), 0.5),
        (lambda: _arguments.number("norm_type", math.inf, above=0, finite=False), math.inf),
        (lambda: _arguments.positive_float("lr", 2), 2.0),
        (lambda: _arguments.positive_float("noise", 0, allow_zero=True), 0.0),
        (lambda: _arguments.one_of("reduction", "sum", ("mean", "sum")), "sum"),
        (lambda: _arguments.shape("out_shape", (2, 3)), (2, 3)),
        (lambda: _arguments.shape("feature_shape", (), allow_empty=True), ()),
    ],
)
def test_accepted_values_come_back(call, expected):
    got = call()
    assert got == expected and type(got) is type(expected)


def test_a_number_that_is_not_finite_passes_only_where_asked():
    assert math.isnan(_arguments.number("value", math.nan, finite=False))  # no bound: NaN is a number to show
    with pytest.raises(SpecInputError, match="value must be a finite number, got nan"):
        _arguments.number("value", math.nan)
    with pytest.raises(SpecInputError, match="norm_type must be a number > 0 or inf, got nan"):
        _arguments.number("norm_type", math.nan, above=0, finite=False)  # NaN lies outside every bound


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: _arguments.integer("k", 3, at_least=0, below=3), SpecInputError, "k must be an int in [0, 3), got 3"),
        (
            lambda: _arguments.integer("k", -1, at_least=0, at_most=3),
            SpecInputError,
            "k must be an int in [0, 3], got -1",
        ),
        (lambda: _arguments.integer("k", 1.0), SpecTypeError, "k must be an int, got 1.0"),
        (lambda: _arguments.positive_int("n", 0), SpecInputError, "n must be an int >= 1, got 0"),
        (lambda: _arguments.positive_int("n", True), SpecTypeError, "n must be an int >= 1, got True"),
        (
            lambda: _arguments.seed("7"),
            SpecTypeError,
            "seed must be an int in [-9223372036854775808, 18446744073709551615], got '7'",
        ),
        (lambda: _arguments.seed(2**64, "block_seed"), SpecInputError, "block_seed must be an int in"),
        (
            lambda: _arguments.number("p", 1.5, at_least=0, at_most=1),
            SpecInputError,
            "p must be a number in [0, 1], got 1.5",
        ),
        (lambda: _arguments.number("c", 0, above=0, below=1), SpecInputError, "c must be a number in (0, 1), got 0"),
        (lambda: _arguments.number("s", 1, above=1), SpecInputError, "s must be a finite number > 1, got 1"),
        (lambda: _arguments.number("s", math.inf, above=1), SpecInputError, "s must be a finite number > 1, got inf"),
        (lambda: _arguments.number("x", 2, at_most=1), SpecInputError, "x must be a finite number <= 1, got 2"),
        (lambda: _arguments.number("x", True), SpecTypeError, "x must be a finite number, got True"),
        (lambda: _arguments.positive_float("lr", 0), SpecInputError, "lr must be a finite number > 0, got 0"),
        (
            lambda: _arguments.one_of("reduction", "summ", ("mean", "sum")),
            SpecInputError,
            "reduction must be one of 'mean', 'sum', got 'summ'; did you mean 'sum'?",
        ),
        (
            lambda: _arguments.shape("out_shape", (2, True)),
            SpecInputError,
            "out_shape must be a non-empty tuple of ints >= 1, got (2, True)",
        ),
        (lambda: _arguments.shape("out_shape", ()), SpecInputError, "out_shape must be a non-empty tuple"),
        (lambda: _arguments.number("x", 1, above=0, at_least=0), SpecInputError, "give one lower bound"),
    ],
)
def test_refused_values_name_the_argument_and_the_bounds(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value).startswith(message)


def test_one_of_gives_no_hint_when_nothing_is_close():
    with pytest.raises(SpecInputError) as info:
        _arguments.one_of("lang", "fr", ("en", "zh"))
    assert str(info.value) == "lang must be one of 'en', 'zh', got 'fr'"
