"""Classification metrics: accuracy, balanced accuracy, expected calibration error (ECE); Spearman rank correlation."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import torch

from support import _arguments
from support.errors import SpecInputError


def _predictions(scores: torch.Tensor) -> torch.Tensor:
    """Class predictions from (N, K) scores/probabilities, or int predictions of shape (N,) as they are."""
    _arguments.tensor("predictions", scores)
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
    _arguments.tensor("targets", targets, dim=1, floating=False)
    n = _arguments.same_batch("predictions", pred, "targets", targets)
    return (pred == targets).sum().item() / n


def per_class_recall(scores: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Recall of each class (NaN for a class absent from the targets)."""
    pred = _predictions(scores)
    _arguments.tensor("targets", targets, dim=1, floating=False)
    _arguments.same_batch("predictions", pred, "targets", targets)
    _arguments.integer("n_classes", n_classes, at_least=2)
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
    _arguments.tensor("probs", probs, dim=2, floating=True)
    _arguments.tensor("targets", targets, dim=1, floating=False)
    _arguments.same_batch("probs", probs, "targets", targets)
    _arguments.positive_int("n_bins", n_bins)
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
    return [_arguments.number(f"{name}[{i}]", v) for i, v in enumerate(values)]


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


# ---------------------------------------------------------------- binomial confidence bounds
# A rate measured over independent runs (different seeds) is a binomial count: k of n runs show an event of
# probability p. These helpers turn the count into a one-sided lower confidence bound on p, so a spec can assert
# "more often than not" (p > 1/2) from n runs with a stated error probability instead of a hand-picked seed.


def _confidence(confidence: object) -> float:
    return _arguments.number("confidence", confidence, above=0, below=1)


def _count(successes: object, trials: object) -> tuple[int, int]:
    _arguments.positive_int("trials", trials)
    _arguments.integer("successes", successes, at_least=0, at_most=trials)
    return successes, trials


def binomial_upper_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p): the exact sum over j >= successes of
    C(n, j) p^j (1 - p)^(n - j), each term computed in log space (lgamma) so that no factor overflows."""
    k, n = _count(successes, trials)
    _arguments.number("p", p, at_least=0, at_most=1)
    if k == 0:
        return 1.0
    if p == 0 or p == 1:
        return float(p)  # all mass at X = 0 (k >= 1 not reached) or at X = n (>= k)
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    terms = (
        math.exp(log_n - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q)
        for j in range(k, n + 1)
    )
    return min(1.0, math.fsum(terms))


def binomial_lower_tail(successes: int, trials: int, p: float) -> float:
    """P(X < successes) for X ~ Binomial(trials, p): how often an experiment that needs ``successes`` of
    ``trials`` falls short when each trial succeeds with probability p. Computed as the upper tail of the failures,
    P(trials - X >= trials - successes + 1) with failure probability 1 - p (0 when successes = 0)."""
    k, n = _count(successes, trials)
    _arguments.number("p", p, at_least=0, at_most=1)
    return 0.0 if k == 0 else binomial_upper_tail(n - k + 1, n, 1 - p)


def clopper_pearson_lower(successes: int, trials: int, confidence: float = 0.99) -> float:
    """One-sided Clopper-Pearson lower confidence bound on a binomial probability p from k successes in n trials.

    It is the p_L with P(X >= k | p_L) = alpha = 1 - confidence (0 when k = 0): every p below p_L makes k or more
    successes less likely than alpha, so P(p_L <= p) >= confidence whatever the true p (Clopper & Pearson 1934).
    Closed form for k = n: alpha^(1/n). Otherwise the tail, increasing in p from 0 (at p = 0) to 1 (at p = 1), is
    bisected on [0, 1] to machine precision, and the lower end is returned, so the bound is never overstated.
    """
    k, n = _count(successes, trials)
    alpha = 1 - _confidence(confidence)
    if k == 0:
        return 0.0
    if k == n:
        return alpha ** (1 / n)
    lo, hi = 0.0, 1.0  # the tail is 0 < alpha at p = 0 and 1 > alpha at p = 1 (k >= 1)
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if binomial_upper_tail(k, n, mid) <= alpha:
            lo = mid
        else:
            hi = mid
    return lo


def hoeffding_lower(mean: float, n: int, confidence: float = 0.99) -> float:
    """One-sided Hoeffding lower confidence bound on E[Z] from the mean of n independent Z_i in [0, 1]:
    P(mean - E[Z] >= t) <= exp(-2 n t^2) (Hoeffding 1963, Thm 1), so with probability >= confidence
    E[Z] >= mean - sqrt(ln(1 / (1 - confidence)) / (2 n)), clipped at 0. For 0/1 variables it is looser than
    clopper_pearson_lower (it bounds the same tail from above), but it holds for any [0, 1]-valued Z."""
    _arguments.number("mean", mean, at_least=0, at_most=1)  # the mean of [0, 1]-valued variables
    _arguments.positive_int("n", n)
    alpha = 1 - _confidence(confidence)
    return max(0.0, mean - math.sqrt(math.log(1 / alpha) / (2 * n)))


def successes_needed(trials: int, threshold: float, confidence: float = 0.99) -> int | None:
    """The fewest successes k of ``trials`` whose Clopper-Pearson lower bound exceeds ``threshold`` (None if even
    k = trials does not): the count a spec must observe to claim p > threshold at this confidence."""
    _arguments.positive_int("trials", trials)
    _arguments.number("threshold", threshold, at_least=0, below=1)
    _confidence(confidence)
    if clopper_pearson_lower(trials, trials, confidence) <= threshold:
        return None
    lo, hi = -1, trials  # the bound increases with k: bisect for the first k above the threshold
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if clopper_pearson_lower(mid, trials, confidence) > threshold:
            hi = mid
        else:
            lo = mid
    return hi
