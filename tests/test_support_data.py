"""Tests of support.data: input checks, determinism by seed, shapes and dtypes, class counts and label
ranges, and the linear model behind ``regression``."""

import math

import pytest
import torch

from support import data
from support.errors import SpecInputError, SpecTypeError
from support.tensors import generator


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.regression(0, 3), "n must be"),
        (lambda: data.regression(10, -2), "in_features"),
        (lambda: data.regression(10, 3, 0), "out_features"),
        (lambda: data.regression(True, 3), "n must be"),  # bool is not a sample count
        (lambda: data.regression(10, 3, noise=-0.1), "noise"),
        (lambda: data.regression(10, 3, noise=float("inf")), "noise"),
        (lambda: data.regression(10, 3, seed=0.5), "seed"),
        (lambda: data.regression(10, 3, seed=False), "seed"),
        (lambda: data.classification(10, 3, 1), "n_classes"),
        (lambda: data.classification(10, 3, 0), "n_classes must be an int >= 2"),  # not a ZeroDivisionError
        (lambda: data.classification(10, 3, 2.5), "n_classes"),
        (lambda: data.classification(10, 0, 2), "in_features"),
        (lambda: data.classification(10, 3, True), "n_classes"),
        (lambda: data.classification(10, 3, 2, separation=-1.0), "separation"),
        (lambda: data.imbalanced_classification(10, 3, [1.0]), "shares"),
        (lambda: data.imbalanced_classification(10, 3, [0.5, 0.6]), "shares"),
        (lambda: data.imbalanced_classification(10, 3, [1.2, -0.2]), "shares"),
        (lambda: data.imbalanced_classification(0, 3, [0.5, 0.5]), "n must be"),
        (lambda: data.sequences(4, 0, 3), "length"),
        (lambda: data.sequences(4, 5, 0), "input_size"),
        (lambda: data.sequences(0, 5, 3), "n must be"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


@pytest.mark.parametrize("dtype", [torch.float16, torch.int64])
@pytest.mark.parametrize(
    "make",
    [
        lambda dt: data.regression(4, 2, dtype=dt),
        lambda dt: data.classification(4, 2, 2, dtype=dt),
        lambda dt: data.imbalanced_classification(4, 2, [0.5, 0.5], dtype=dt),
        lambda dt: data.sequences(4, 3, 2, dtype=dt),
    ],
)
def test_non_float32_64_dtype_is_a_type_error(make, dtype):
    with pytest.raises(SpecTypeError, match="dtype"):
        make(dtype)


# ---------------------------------------------------------------- determinism
MAKERS = {
    "regression": lambda seed: data.regression(20, 3, 2, seed=seed),
    "classification": lambda seed: data.classification(20, 3, 4, seed=seed),
    "imbalanced": lambda seed: data.imbalanced_classification(20, 3, [0.7, 0.3], seed=seed),
    "sequences": lambda seed: (data.sequences(4, 5, 3, seed=seed),),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_same_seed_same_data_different_seed_different_data(name):
    make = MAKERS[name]
    a, b, c = make(11), make(11), make(12)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_makers_leave_global_rng_state_unchanged(name):
    before = torch.get_rng_state()
    MAKERS[name](3)
    assert torch.equal(torch.get_rng_state(), before)


def test_float32_data_is_the_rounded_float64_data():
    # drawn in float64 then cast, so the seed gives the same numbers in both dtypes
    x64, y64 = data.regression(8, 3, seed=4)
    x32, y32 = data.regression(8, 3, seed=4, dtype=torch.float32)
    assert torch.equal(x32, x64.float()) and torch.equal(y32, y64.float())


# ---------------------------------------------------------------- shapes, dtypes, contents
def test_regression_shapes_and_dtypes():
    x, y = data.regression(10, 3, 2)
    assert x.shape == (10, 3) and y.shape == (10, 2)
    assert x.dtype == y.dtype == torch.float64


def test_regression_without_noise_is_exactly_linear():
    x, y = data.regression(50, 4, 2, noise=0.0, seed=1)
    w = torch.linalg.lstsq(x, y).solution
    assert (x @ w - y).abs().max().item() < 1e-12


def test_regression_residual_std_matches_noise():
    sigma, n, d = 0.3, 4000, 3
    x, y = data.regression(n, d, noise=sigma, seed=2)
    resid = y - x @ torch.linalg.lstsq(x, y).solution
    # unbiased residual std of OLS with d parameters; its sampling std is about sigma / sqrt(2n)
    s = math.sqrt((resid**2).sum().item() / (n - d))
    assert abs(s - sigma) < 5 * sigma / math.sqrt(2 * n)


def test_classification_is_balanced_with_labels_in_range():
    x, y = data.classification(90, 5, 3)
    assert x.shape == (90, 5) and x.dtype == torch.float64
    assert y.shape == (90,) and y.dtype == torch.int64
    assert torch.bincount(y, minlength=3).tolist() == [30, 30, 30]


@pytest.mark.parametrize(
    "n, shares, counts",
    [
        (100, [0.9, 0.1], [90, 10]),
        (200, [0.5, 0.3, 0.2], [100, 60, 40]),
        (10, [0.25, 0.25, 0.5], [3, 2, 5]),  # round(2.5) = 2 twice -> the remainder 1 goes to class 0
    ],
)
def test_imbalanced_class_counts_match_shares(n, shares, counts):
    _, y = data.imbalanced_classification(n, 2, shares)
    assert y.min() >= 0 and y.max() < len(shares)
    assert torch.bincount(y, minlength=len(shares)).tolist() == counts


def test_imbalanced_labels_are_shuffled():
    _, y = data.imbalanced_classification(100, 2, [0.5, 0.5], seed=0)
    assert not torch.equal(y, y.sort().values)  # not 50 zeros followed by 50 ones


def test_classes_are_separated_blobs():
    # with unit noise, each class mean is near its centre; classes with large separation are far apart
    x, y = data.classification(3000, 4, 3, separation=10.0, seed=5)
    means = torch.stack([x[y == k].mean(0) for k in range(3)])
    within = torch.stack([(x[y == k] - means[k]).std(0) for k in range(3)])
    assert torch.all((within - 1).abs() < 0.15)  # unit noise, 1000 samples per class
    assert torch.cdist(means, means).add(torch.eye(3) * 1e9).min() > 2.0


def test_sequences_shape_dtype_and_moments():
    s = data.sequences(200, 10, 3, dtype=torch.float32)
    assert s.shape == (200, 10, 3) and s.dtype == torch.float32
    n = s.numel()
    assert abs(s.mean().item()) < 5 / math.sqrt(n)
    assert abs(s.std().item() - 1) < 5 / math.sqrt(2 * n)


def test_the_makers_draw_from_the_one_seeded_generator_of_support_tensors():
    # sequences is one standard-normal draw: the same numbers as torch.randn from support.tensors.generator(seed)
    want = torch.randn(4, 5, 3, generator=generator(11), dtype=torch.float64)
    assert torch.equal(data.sequences(4, 5, 3, seed=11), want)
