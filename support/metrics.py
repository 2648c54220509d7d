"""Classification metrics: accuracy, balanced accuracy, expected calibration error (ECE); Spearman rank correlation."""

from __future__ import annotations

import math
import statistics
from typing import Sequence

import torch

from support import _checks
from support.errors import SpecInputError


def _predictions(scores: torch.Tensor) -> torch.Tensor:
    """Class predictions from (N, K) scores/probabilities, or int predictions of shape (N,) as they are."""
    _checks.tensor("predictions", scores)
    if scores.is_floating_point():
        if scores.dim() != 2 or scores.shape[1] < 2:
            raise SpecInputError(f"scores must have shape (N, K) with K >= 2, got {tuple(scores.shape)}")
        return scores.argmax(dim=1)
    if scores.dim() != 1:
        raise SpecInputError(f"integer predictions must have shape (N,), got {tuple(scores.shape)}")
    return scores


def accuracy(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose predicted class (argmax of the scores) equals the target: k / N."""
    pred = _predictions(scores)
    _checks.tensor("targets", targets, dim=1, floating=False)
    n = _checks.same_batch("predictions", pred, "targets", targets)
    return (pred == targets).sum().item() / n


def per_class_recall(scores: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Recall of each class (NaN for a class absent from the targets)."""
    pred = _predictions(scores)
    _checks.tensor("targets", targets, dim=1, floating=False)
    _checks.same_batch("predictions", pred, "targets", targets)
    _checks.positive_int("n_classes", n_classes, minimum=2)
    if targets.min() < 0 or targets.max() >= n_classes:
        raise SpecInputError(f"targets must lie in [0, {n_classes}), got range [{targets.min()}, {targets.max()}]")
    recall = torch.full((n_classes,), float("nan"), dtype=torch.float64)
    for k in range(n_classes):
        mask = targets == k
        if mask.any():
            recall[k] = (pred[mask] == k).double().mean().cpu()
    return recall


def balanced_accuracy(scores: torch.Tensor, targets: torch.Tensor, n_classes: int) -> float:
    """Mean of the per-class recalls over the classes present in the targets."""
    recall = per_class_recall(scores, targets, n_classes)
    return recall[~recall.isnan()].mean().item()


def reliability_bins(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15):
    """Equal-width confidence bins (Guo et al. 2017, sec. 2): for each bin (lower, upper], the sample count,
    the accuracy and the mean confidence (NaN for empty bins). Returns (counts, accuracy, confidence)."""
    _checks.tensor("probs", probs, dim=2, floating=True)
    _checks.tensor("targets", targets, dim=1, floating=False)
    _checks.same_batch("probs", probs, "targets", targets)
    _checks.positive_int("n_bins", n_bins)
    if (probs < 0).any() or (probs.sum(dim=1) - 1).abs().max() > 1e-4:
        raise SpecInputError("probs must be probabilities: non-negative rows summing to 1 (pass softmax(logits))")
    conf, pred = probs.max(dim=1)
    correct = (pred == targets).double()
    # bin m holds confidences in ((m-1)/M, m/M]; a confidence of exactly 0 cannot occur (max prob >= 1/K)
    idx = (torch.ceil(conf.double() * n_bins).long() - 1).clamp(0, n_bins - 1)
    counts = torch.bincount(idx, minlength=n_bins).double()
    acc = torch.bincount(idx, weights=correct, minlength=n_bins) / counts
    mean_conf = torch.bincount(idx, weights=conf.double(), minlength=n_bins) / counts
    return counts.cpu(), acc.cpu(), mean_conf.cpu()


def expected_calibration_error(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)| (Guo et al. 2017, eq. 3; M = 15 bins by default)."""
    counts, acc, conf = reliability_bins(probs, targets, n_bins)
    filled = counts > 0
    return ((counts[filled] / counts.sum()) * (acc[filled] - conf[filled]).abs()).sum().item()


def _ranks(values: list[float]) -> list[float]:
    """0-based ranks, tied values given the average of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for idx in order[i : j + 1]:
            ranks[idx] = (i + j) / 2
        i = j + 1
    return ranks


def _numbers(name: str, values: Sequence[float]) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise SpecInputError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecInputError(f"{name} must hold numbers, got {v!r}")
        if not math.isfinite(v):
            raise SpecInputError(f"{name} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the ranks, ties given their average rank."""
    xs, ys = _numbers("a", a), _numbers("b", b)
    if len(xs) != len(ys):
        raise SpecInputError(f"a and b must have the same length, got {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        raise SpecInputError(f"spearman needs at least 2 pairs, got {len(xs)}")
    ra, rb = _ranks(xs), _ranks(ys)
    for name, r in (("a", ra), ("b", rb)):
        if len(set(r)) == 1:
            raise SpecInputError(f"{name} is constant: its ranks have no variance, so the correlation is undefined")
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var
