"""accumulation.token-count

What is true (confirmed):
- In a token-level loss with padding (targets set to ignore_index), the terms of cross-entropy's 'mean' are the
  valid targets, not the sequences, so micro-batches of equal size can hold different numbers n_j of valid targets.
- Accumulating (mean loss of micro-batch j) / k then gives each valid target of micro-batch j the weight 1 / (k n_j)
  instead of 1 / n, n the total number of valid targets, and misses the full batch's mean-loss gradient by the sum
  over j of (1/k - n_j/n) times micro-batch j's mean gradient; it is right only when every n_j is equal.
- Summing each micro-batch's loss (reduction='sum') and dividing by the total valid count n across all micro-batches
  recovers the full-batch gradient, equal up to rounding, not bitwise by guarantee.
- A micro-batch with no valid target has a NaN mean loss: the built-in cross-entropy gives it a zero gradient, so
  .grad survives while a running sum of the losses turns NaN, but a hand-written masked mean (masked sum / count)
  backpropagates NaN into the gradients and, after the step, into the weights.

Why: the full batch's 'mean' is (sum over valid targets t of l_t) / n (mean.denominator.ignore-index: ignored
targets leave the numerator and the denominator), so each valid target weighs 1 / n. Micro-batch j's 'mean' is
(sum over its valid targets) / n_j, and backward accumulates (accumulation.micro-batches), so (mean_j / k)
weighs each of its targets 1 / (k n_j). Writing g_j for micro-batch j's own mean gradient (its sum gradient is
n_j g_j), the accumulated /k gradient is sum_j g_j / k and the full one is sum_j (n_j / n) g_j: the miss is
sum_j (1/k - n_j/n) g_j. With one valid target against four (k = 2, n = 5) the coefficients are +-(1/2 - 1/5) =
+-0.3, so the miss is 0.3 (g_1 - g_2), and the lone target weighs 1/2 instead of 1/5, 2.5 times its share, the
four others 1/8 instead of 1/5. Equal micro-batch sizes are no protection: the counts that matter are the valid
targets. The remedy is Goyal et al.'s normalisation by the total (accumulation.micro-batches) with the token count
as the total: sum_j (sum loss of micro-batch j) / n weighs every valid target 1 / n. In practice n is counted
before the micro-batches' backward passes (the whole accumulation window is known to the data loader; across DDP
ranks it needs an all-reduce of the counts).

The weights depend on the counts alone, so the first test checks them on the logits' gradients (random logits,
hypothesis over the number of micro-batches, their size, the sequence length, the padding and the seed, plus the
1-vs-4 case): d loss / d logit_t = w_t (softmax(z_t) - onehot(y_t)) with w_t = 1 / (k n_j) for mean/k and 1 / n
for sum/n and for the full batch, 0 for padding. The other tests use support.models.token_model (Embedding ->
Linear over (N, T) token ids, logits (N, T, C) passed to cross_entropy as (N, C, T), ignore_index = -100) in
float64: the derived miss on the parameters' gradients (1 vs 4 valid targets, and three micro-batches of two
sequences with 4, 2 and 8 valid targets), and training: SGD with the /k recipe follows full-batch SGD on the
reweighted loss sum_t l_t / (k n_j(t)), SGD with the token-count recipe follows full-batch SGD on the true mean,
and the two end apart. The all-padding micro-batch is shown with the built-in mean and with a hand-written
masked mean. Tolerances: the recipes add the same terms in a different order, so accumulation(float64, number of
terms), times the steps for the training runs.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from support.gradients import flat_grad, flat_params
from support.models import token_model
from support.tensors import generator
from support.tolerances import EXACT, accumulation, assert_close, assert_ge

pytestmark = pytest.mark.claim("accumulation.token-count")
VOCAB, DIM, CLASSES, PAD, IGNORE = 7, 4, 3, 0, -100


def _micro_batches(lengths, m, t, seed, device):
    """k = len(lengths) / m micro-batches of m sequences of t tokens; sequence i has lengths[i] valid targets,
    the rest is padding (token PAD, target IGNORE). Returns a list of (tokens, targets), each (m, t)."""
    g = generator(seed)
    n_seq = len(lengths)
    tokens = torch.randint(1, VOCAB, (n_seq, t), generator=g)
    targets = torch.randint(0, CLASSES, (n_seq, t), generator=g)
    padded = torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]
    tokens[padded], targets[padded] = PAD, IGNORE
    return list(zip(tokens.to(device).split(m), targets.to(device).split(m)))


def _loss(model, tokens, targets, reduction="mean"):
    return F.cross_entropy(model(tokens).transpose(1, 2), targets, reduction=reduction)  # (N, C, T) vs (N, T)


def _valid(targets) -> int:
    return int((targets != IGNORE).sum())


def _full_batch_grad(model, batches):
    model.zero_grad(set_to_none=True)
    tokens = torch.cat([b[0] for b in batches])
    targets = torch.cat([b[1] for b in batches])
    _loss(model, tokens, targets).backward()
    return flat_grad(model).clone()


def _accumulated_grad(model, batches, recipe):
    """One .grad from k backward passes: 'mean/k' (each micro-batch's mean over k) or 'sum/n' (each
    micro-batch's summed loss over the total valid count n of all micro-batches)."""
    k, n = len(batches), sum(_valid(b[1]) for b in batches)
    model.zero_grad(set_to_none=True)
    for tokens, targets in batches:
        loss = _loss(model, tokens, targets) / k if recipe == "mean/k" else _loss(model, tokens, targets, "sum") / n
        loss.backward()
    return flat_grad(model).clone()


def _miss_coefficients(counts):
    """(1/k - n_j/n) per micro-batch: the /k recipe's gradient minus the full one is sum_j coef_j g_j."""
    k, n = len(counts), sum(counts)
    return [1.0 / k - c / n for c in counts]


@given(k=st.integers(2, 4), m=st.integers(1, 3), t=st.integers(2, 5), seed=st.integers(0, 10_000), data=st.data())
@example(k=2, m=1, t=4, seed=0, data=None).via("the 1-vs-4 case")  # data=None: lengths (1, 4), below
def test_each_valid_target_weighs_one_over_k_n_j_with_mean_over_k_and_one_over_n_with_sum_over_n(
    k, m, t, seed, data, device
):
    # d loss / d logit_t = w_t (softmax(z_t) - onehot(y_t)) for a valid target, 0 for padding: w_t is its weight.
    # The weights depend on the counts only, not on the model, so the logits are random here.
    if data is None:
        lengths = [1, 4]
    else:
        lengths = data.draw(st.lists(st.integers(0, t), min_size=k * m, max_size=k * m), label="lengths")
        for j in range(k):  # whole padded sequences are fine, an empty micro-batch is the last test's subject
            lengths[j * m] = max(lengths[j * m], 1 - sum(lengths[j * m : (j + 1) * m]))
    batches = _micro_batches(lengths, m, t, seed=seed, device=device)
    counts = [_valid(b[1]) for b in batches]
    n = sum(counts)
    g = generator(seed)
    logits = torch.randn(k * m, t, CLASSES, generator=g, dtype=torch.float64).to(device).requires_grad_(True)
    targets = torch.cat([b[1] for b in batches])
    direction = torch.softmax(logits.detach(), dim=-1) - F.one_hot(targets.clamp(min=0), CLASSES)
    valid = (targets != IGNORE)[..., None]
    parts = list(zip(logits.split(m), targets.split(m)))
    mean_over_k = sum(F.cross_entropy(z.transpose(1, 2), y) / k for z, y in parts)
    sum_over_n = sum(F.cross_entropy(z.transpose(1, 2), y, reduction="sum") / n for z, y in parts)
    full = F.cross_entropy(logits.transpose(1, 2), targets)
    w_k = torch.cat([torch.full((m, t, 1), 1.0 / (k * c), dtype=torch.float64) for c in counts]).to(device)
    grads = [torch.autograd.grad(loss, logits)[0] for loss in (mean_over_k, sum_over_n, full)]
    expected = [torch.where(valid, w * direction, torch.zeros_like(direction)) for w in (w_k, 1.0 / n, 1.0 / n)]
    assert_close(torch.stack(grads), torch.stack(expected))


@pytest.mark.parametrize("lengths, m", [((1, 4), 1), ((3, 1, 0, 2, 4, 4), 2)], ids=["1-vs-4", "3-micro-batches"])
def test_mean_over_k_misses_by_the_derived_amount_and_sum_over_n_recovers_the_batch_gradient(
    lengths, m, device, figures
):
    # micro-batches of m sequences of 4 tokens; 1-vs-4: one valid target against four, coefficients +-(1/2 - 1/5)
    model = token_model(VOCAB, DIM, CLASSES, seed=11, device=device)
    batches = _micro_batches(lengths, m, 4, seed=11, device=device)
    counts = [_valid(b[1]) for b in batches]
    assert len(set(counts)) > 1  # equal micro-batch sizes, unequal valid counts
    n = sum(counts)
    tol = accumulation(torch.float64, n * CLASSES)
    full = _full_batch_grad(model, batches)
    own = [_full_batch_grad(model, [b]) for b in batches]  # g_j: micro-batch j's own mean gradient
    plain = _accumulated_grad(model, batches, "mean/k")
    expected_miss = sum(c * g for c, g in zip(_miss_coefficients(counts), own))
    assert_close(plain - full, expected_miss, tol=tol)
    # a real miss, not rounding: assert_close above would also accept plain == full if every entry of the derived
    # miss were within atol / (1 - rtol) of 0; the largest one is not, so the check tells the two apart
    assert_ge(
        expected_miss.abs().max(),
        tol.atol / (1 - tol.rtol),
        slack=EXACT,
        strict=True,
        msg="the derived miss sum_j (1/k - n_j/n) g_j is within the tolerance of 0",
    )
    token_count = _accumulated_grad(model, batches, "sum/n")
    assert_close(token_count, full, tol=tol)
    counts_name = " vs ".join(map(str, counts))
    shape = tuple(batches[0][0].shape)  # (sequences, tokens) of each micro-batch
    on = (
        f"Embedding({VOCAB}, {DIM}) -> Linear({DIM}, {CLASSES}) token classifier, micro-batches of {shape[0]} x "
        f"{shape[1]} (sequences x tokens) random tokens and targets, cross-entropy"
    )
    on_zh = (
        f"Embedding({VOCAB}, {DIM}) -> Linear({DIM}, {CLASSES}) 词元分类器,每个 micro-batch 为 {shape[0]} x {shape[1]}"
        "(序列 x 词元)的随机词元和目标,交叉熵"
    )
    figures.record(
        f"||mean/k - full|| / ||full||, valid targets {counts_name}",
        (plain - full).norm() / full.norm(),
        "1",
        zh=f"||mean/k - full|| / ||full||,有效目标数 {counts_name}",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        f"||sum/n - full|| / ||full||, valid targets {counts_name}",
        (token_count - full).norm() / full.norm(),
        "1",
        note="rounding only: the same terms in another order",
        note_zh="只有舍入误差:同样的项,求和顺序不同",
        zh=f"||sum/n - full|| / ||full||,有效目标数 {counts_name}",
        measured_on=on,
        measured_on_zh=on_zh,
    )


def test_training_with_mean_over_k_optimises_a_reweighted_loss_and_with_sum_over_n_the_true_mean(device, figures):
    # SGD on each recipe against full-batch SGD on the loss it really computes: the true mean over the n valid
    # targets (sum/n), or sum_t l_t / (k n_j(t)) (mean/k), built here from the counts with reduction='none'
    lr, steps = 0.5, 8
    batches = _micro_batches((1, 4), 1, 4, seed=11, device=device)
    counts = [_valid(b[1]) for b in batches]
    k, n = len(counts), sum(counts)
    tokens = torch.cat([b[0] for b in batches])
    targets = torch.cat([b[1] for b in batches])
    weights = torch.tensor([1.0 / (k * c) for c in counts], dtype=torch.float64, device=device)[:, None]

    def full_batch(weighted):
        def loss(model):
            if not weighted:
                return _loss(model, tokens, targets)
            return (weights * _loss(model, tokens, targets, "none")).sum()  # padding terms are 0 under 'none'

        return loss

    def accumulated(recipe):
        def loss(model):
            for tok, tgt in batches:
                part = _loss(model, tok, tgt) / k if recipe == "mean/k" else _loss(model, tok, tgt, "sum") / n
                part.backward()

        return loss

    def run(step_loss):
        model = token_model(VOCAB, DIM, CLASSES, seed=11, device=device)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            out = step_loss(model)
            if out is not None:
                out.backward()
            opt.step()
        return flat_params(model)

    tol = accumulation(torch.float64, steps * n * CLASSES)  # rounding differences carried through the steps
    true_mean, reweighted = run(full_batch(False)), run(full_batch(True))
    assert_close(run(accumulated("sum/n")), true_mean, tol=tol)
    plain = run(accumulated("mean/k"))
    assert_close(plain, reweighted, tol=tol)
    assert not torch.allclose(plain, true_mean, rtol=tol.rtol, atol=tol.atol), "the /k recipe trains another loss"
    figures.record(
        f"||theta(mean/k) - theta(true mean)|| after {steps} SGD steps",
        (plain - true_mean).norm(),
        "parameter norm",
        zh=f"{steps} 步 SGD 后的 ||theta(mean/k) - theta(真实平均)||",
        measured_on=f"Embedding({VOCAB}, {DIM}) -> Linear({DIM}, {CLASSES}) token classifier, {k} micro-batches with "
        f"{' and '.join(map(str, counts))} valid targets, SGD lr {lr}",
        measured_on_zh=f"Embedding({VOCAB}, {DIM}) -> Linear({DIM}, {CLASSES}) 词元分类器,{k} 个 micro-batch,有效目标数"
        f"分别为 {'、'.join(map(str, counts))},SGD lr {lr}",
    )


def test_an_all_padding_micro_batch_has_a_nan_mean_that_poisons_the_running_loss_or_a_hand_written_mean(device):
    model = token_model(VOCAB, DIM, CLASSES, seed=13, device=device)
    batches = _micro_batches((2, 3, 0, 0, 4, 1), 2, 4, seed=13, device=device)  # micro-batch 1 is all padding
    counts = [_valid(b[1]) for b in batches]
    assert counts[1] == 0 and all(c > 0 for i, c in enumerate(counts) if i != 1)
    k, n = len(batches), sum(counts)
    # built-in 'mean': 0 / 0 = NaN for the empty micro-batch, yet its gradient is exactly zero
    model.zero_grad(set_to_none=True)
    running = 0.0
    for tokens, targets in batches:
        loss = _loss(model, tokens, targets) / k
        running += loss.item()
        loss.backward()
    with_empty = flat_grad(model).clone()
    assert math.isnan(running)  # the logged loss is NaN
    model.zero_grad(set_to_none=True)
    for tokens, targets in (batches[0], batches[2]):
        (_loss(model, tokens, targets) / k).backward()
    assert torch.equal(with_empty, flat_grad(model)), "the empty micro-batch adds an exact zero to .grad"
    # sum/n: the empty micro-batch's sum is 0 and n does not count it, so the full-batch gradient is recovered
    assert _loss(model, *batches[1], reduction="sum").item() == 0.0
    assert_close(
        _accumulated_grad(model, batches, "sum/n"),
        _full_batch_grad(model, batches),
        tol=accumulation(torch.float64, n * CLASSES),
    )
    # a hand-written masked mean, sum(l * mask) / sum(mask): d/dl = mask / 0 = 0 * inf = NaN on every term
    model.zero_grad(set_to_none=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for tokens, targets in batches:
        mask = (targets != IGNORE).to(torch.float64)
        terms = _loss(model, tokens, targets.clamp(min=0), "none")
        ((terms * mask).sum() / mask.sum() / k).backward()
    assert torch.isnan(model.head.weight.grad).all() and torch.isnan(model.head.bias.grad).all()
    opt.step()
    assert torch.isnan(model.head.weight).all(), "one SGD step carries the NaN into the weights"
