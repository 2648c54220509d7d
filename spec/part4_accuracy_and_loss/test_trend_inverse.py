"""trend.inverse

Source: 「通常情况下,随着模型性能的提升,准确率会提高,而损失值会降低。这是因为较低的损失值 意味着模型的预测更接近真实标签,从而导致更高的准确率。然而,这种关系并不是绝对的。」

What is true (qualified):
- Usually, not always. Say that held-out loss and accuracy move inversely in a training run when their Spearman rank
  correlation over the run's evaluations is negative.
- Training small MLPs on synthetic Gaussian blobs with minibatch SGD, most seeded runs do: more than half of all
  seeds, at 99% confidence from a one-sided Clopper-Pearson bound over independent runs.
- From one epoch to the next, held-out loss falls when held-out accuracy rises (and the other way round) more often
  than not, by a Hoeffding bound over runs; single epochs can disagree, since accuracy moves in steps of 1/N.
- The relation is not absolute: with few training samples and one informative low-variance feature, the held-out NLL
  reaches its minimum early and then rises while held-out accuracy still improves, both by more than twice their
  paired standard error, in a sizeable share of seeded runs (at least one in four, at 99% confidence).
- The network grows confident on the samples it still gets wrong (Guo et al. 2017, sec. 3 and Fig. 3); gradient
  descent can keep improving the classifier while the validation loss rises (Soudry et al. 2018).

Why: a claim about what "usually" happens is a claim about a rate, so it is tested on many runs, not one chosen
seed. Each run has its own seed, which draws its data (train and held-out), its initial weights and its minibatch
order, so runs are independent and the number of runs showing an event is Binomial(R, p). The one-sided
Clopper-Pearson bound p_L solves P(X >= k | p_L) = 1 - 0.99 (support.metrics.clopper_pearson_lower, checked
against exact binomial sums in tests/test_support_metrics.py): if p were <= p_L, k or more successes would happen
in at most 1% of experiments. "Usually" = more often than not, so the test asserts p_L > 1/2; with 144 runs this
needs at least 87 successes (successes_needed). The epoch-to-epoch share f_r of a run lies in [0, 1], so its mean
over R independent runs has Hoeffding's bound E[f] >= mean - sqrt(ln(100) / (2R)) at 99% (Hoeffding 1963, Thm 1).

Each run count is sized so that a fresh block of seeds fails the test with probability below 1e-3, and the thorough
profile reruns every rate on four more disjoint blocks (seed_block b draws seeds 10000 b + r). The model: runs are
independent draws, each showing an event with probability p (or a share with mean mu), measured once on 4096 seeds
(100000-104095, disjoint from every block; SWEEP below) and taken at its one-sided 99.9% lower bound p0
(Clopper-Pearson; Hoeffding for the share). A block fails a count with probability at most P(Binomial(R, p0) <
k_needed), and the share with at most exp(-2R t^2), t = mu0 - 1/2 - sqrt(ln(100) / (2R)) (Hoeffding again, R the runs
whose accuracy moved). Sweep and bounds: Spearman < 0 in 4031 of 4096 runs, so 87 of 144 fail to come with
probability below 1e-40; mean share 0.836 (mu0 = 0.807), 1.5e-4; the reversal in 2428 of 4096 (p0 = 0.569), so 30
of 80 fail to come with probability 1.6e-4. tests/test_spec_statistics.py recomputes each bound from SWEEP.

The reversal is judged from the checkpoint with the lowest held-out NLL to the end of training. The checkpoint is
chosen on the first half of the held-out samples and both changes are measured on the second half: choosing and
testing on the same samples would bias the NLL change upward (the lowest of several noisy means lies below the true
minimum, so the rise after it is overstated), while on fresh samples the chosen checkpoint is a fixed one. On the
second half both changes are paired: the NLL change is significant when its mean exceeds twice the standard error
sd(dCE_i) / sqrt(n) of the per-sample changes, n the samples of that half (1000 of the 2000 in the overfitting
setting); the accuracy change when (b - c) > 2 sqrt(b + c), b and c the samples that became right and became wrong
(McNemar's test: under no change b - c has mean 0 and variance about b + c). Two standard errors (one-sided about
2.3%) make each change one of the population, not of this held-out sample. On the blobs
(support.data.classification) a small network learns the linear Bayes boundary within a few epochs and the held-out
NLL is typically still falling when training stops; the test records how many usual runs show the reversal but
asserts nothing about it. With a handful of blob samples and long training the NLL turns early, but in most seeds
the accuracy has peaked by then too (classic overfitting, both get worse). The reversal becomes common when the data
have one feature that separates the classes well at low variance (means 1 apart, sd 0.3) beside two weak
high-variance ones (means 3 apart, sd 3): the weak features carry the early, large gradients and make the network
confident; the informative one is learned later (ill-conditioning), which raises accuracy after the NLL has turned.
Its rate is well above 1/4 but not far enough above 1/2 to show a majority at 99% with 80 runs (several hundred
would be needed), so the test asserts "at least one run in four": common, not a chosen accident. It also checks the
mechanism, as a rate over the reversal runs: in most of them (more than half, at 99%) the training loss kept falling
(overfitting) and the test-half samples still wrong at the end cost more than they did at the NLL minimum
(overconfidence). In the sweep every reversal run showed both, so this rate is about 1 and its assertion fails a
fresh block with a negligible probability (below 1e-15 for the 30 or more reversal runs the count needs).

All runs of one setting train at once: the R networks' weights are stacked along a leading axis and the loss is
the sum of the R runs' mean losses. No parameter is shared, so each run's gradient is its own loss's gradient, and
SGD and Adam update each element from its own gradient and state, so this is R independent runs; the first test
checks one of them against support.training.train step by step.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import functools
import math
import statistics

import pytest
import torch
import torch.nn.functional as F

from support.data import classification
from support.metrics import (
    clopper_pearson_lower,
    hoeffding_lower,
    spearman,
    successes_needed,
)
from support.models import mlp
from support.tensors import generator, maker
from support.tolerances import assert_close
from support.training import train

pytestmark = pytest.mark.claim("trend.inverse")

CONFIDENCE = 0.99  # one-sided; each rate assertion errs with probability at most 1%
MORE_OFTEN_THAN_NOT = 0.5  # "usually"
COMMON = 0.25  # "not absolute", and not a rare accident: at least one run in four
Z = 2.0  # a held-out change counts when it exceeds twice its paired standard error

# the usual setting: 200 blob samples in minibatches of 25 (8 steps = 1 epoch), 15 epochs, 200 held-out samples
USUAL_RUNS = 144  # the Hoeffding bound's failure on a fresh block: 1.5e-4 (tests/test_spec_statistics.py)
USUAL = dict(n_train=200, n_test=200, d=4, k=3, separation=1.5, width=16, depth=2, lr=0.05, steps=120, batch_size=25)
EPOCH = USUAL["n_train"] // USUAL["batch_size"]
# the overfitting setting: 10 training samples, full-batch Adam, 2000 held-out samples, checkpoints spaced
# evenly in log(step) from step 1 to the last
OVERFIT_RUNS = 80  # P(fewer than the 30 needed) on a fresh block: 1.6e-4 at the sweep's p0
OVERFIT = dict(n_train=10, n_test=2000, width=32, depth=2, lr=0.012, steps=400)
SHARP_DELTA, SHARP_SD = (1.0, 3.0, 3.0), (0.3, 3.0, 3.0)  # class-mean differences and noise sd per coordinate
CHECKPOINTS = sorted({round(OVERFIT["steps"] ** (i / 12)) for i in range(13)})
# what the run counts and rates were measured on (the report shows it next to each)
USUAL_ON = (
    f"{USUAL_RUNS} seeded runs of a ReLU MLP {USUAL['d']}-{USUAL['width']}-{USUAL['k']}: {USUAL['n_train']} blob "
    f"samples (separation {USUAL['separation']}), SGD lr {USUAL['lr']} on minibatches of {USUAL['batch_size']} for "
    f"{USUAL['steps'] // EPOCH} epochs, {USUAL['n_test']} held-out samples"
)
USUAL_ON_ZH = (
    f"{USUAL_RUNS} 次带种子的训练,ReLU MLP {USUAL['d']}-{USUAL['width']}-{USUAL['k']}:{USUAL['n_train']} 个高斯团样本"
    f"(间隔 {USUAL['separation']}),SGD lr {USUAL['lr']},minibatch 大小 {USUAL['batch_size']},"
    f"{USUAL['steps'] // EPOCH} 个 epoch,{USUAL['n_test']} 个验证样本"
)
OVERFIT_ON = (
    f"{OVERFIT_RUNS} seeded runs of a ReLU MLP {len(SHARP_DELTA)}-{OVERFIT['width']}-2: {OVERFIT['n_train']} training "
    f"samples with one sharp feature, full-batch Adam lr {OVERFIT['lr']} for {OVERFIT['steps']} steps, "
    f"{OVERFIT['n_test']} held-out samples"
)
OVERFIT_ON_ZH = (
    f"{OVERFIT_RUNS} 次带种子的训练,ReLU MLP {len(SHARP_DELTA)}-{OVERFIT['width']}-2:{OVERFIT['n_train']} 个只有一个"
    f"清晰特征的训练样本,全 batch Adam lr {OVERFIT['lr']},{OVERFIT['steps']} 步,{OVERFIT['n_test']} 个验证样本"
)
# The sweep that sizes the run counts (seeds 100000-104095, this module's code): of SWEEP_RUNS runs per setting, those
# with Spearman < 0 (usual), those whose accuracy moved and their mean epoch-to-epoch share (usual), those with the
# reversal (overfitting) and, of those, the ones with the mechanism. tests/test_spec_statistics.py recomputes from
# them each test's bound on a fresh block's failure.
SWEEP_RUNS = 4096
SWEEP = {"inverse": 4031, "share_runs": 4095, "share_mean": 0.8356, "reversal": 2428, "mechanism": 2428}


# the held-out evaluation takes a few runs at a time: the same per-run matmuls (each run's rows are its own batch entry
# of baddbmm, so the results are bit for bit those of the whole stack), but activations of at most 2^17 float64 (1 MB)
# that stay in the cache; the whole stack's (80 runs x 2000 samples x 32 units: 41 MB) made the evaluation of the
# overfitting runs bound by memory traffic and ~2x slower
EVAL_ELEMENTS = 2**17


def _forward(params, x):
    """The stacked MLPs: params = [W1, b1, W2, b2, ...] with a leading run axis, ReLU between the layers,
    as in support.models.mlp (Linear: x W^T + b)."""
    h = x
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1][:, None, :], h, params[i].transpose(1, 2))
        if i + 2 < len(params):
            h = torch.relu(h)
    return h


def _train_many(seeds, data, *, make_model, make_optimizer, steps, batch_size, checkpoints):
    """One run per seed, trained together. Run r is train(make_model(seeds[r]), F.cross_entropy, x_r, y_r,
    optimizer=make_optimizer(...), steps=steps, batch_size=batch_size, seed=seeds[r]): same initial weights, same
    minibatch order (a torch.randperm per epoch from a generator seeded with the run's seed). Returns the per-step
    training losses (R, steps) and, at each checkpoint step, the held-out per-sample cross-entropies and whether
    each sample was right, both (R, E, n_test)."""
    xtr, ytr, xte, yte = data
    n = xtr.shape[1]
    if batch_size is not None and n % batch_size:
        raise ValueError(f"batch_size {batch_size} must divide the {n} training samples (whole epochs)")
    models = [make_model(s) for s in seeds]
    params = [
        torch.stack([p.detach() for p in group]).requires_grad_()
        for group in zip(*(list(m.parameters()) for m in models))
    ]
    optimizer = make_optimizer(params)
    generators = [generator(s) for s in seeds]
    losses, ce, right = [], [], []
    for step in range(steps):
        if batch_size is None:
            xb, yb = xtr, ytr
        else:
            if step * batch_size % n == 0:  # a new epoch: each run draws its own permutation, as train() does
                order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(xtr.device)
            idx = order[:, step * batch_size % n :][:, :batch_size]
            xb = torch.gather(xtr, 1, idx[..., None].expand(-1, -1, xtr.shape[2]))
            yb = torch.gather(ytr, 1, idx)
        optimizer.zero_grad(set_to_none=True)
        per_run = F.cross_entropy(_forward(params, xb).transpose(1, 2), yb, reduction="none").mean(dim=1)
        per_run.sum().backward()  # runs share no parameter: each gets the gradient of its own mean loss
        optimizer.step()
        losses.append(per_run.detach())
        if step + 1 in checkpoints:
            with torch.no_grad():
                ce_step, right_step = [], []
                widest = max(p.shape[1] for p in params[::2])  # the largest layer output (W: runs x out x in)
                for runs in torch.arange(len(seeds)).split(max(1, EVAL_ELEMENTS // (xte.shape[1] * widest))):
                    out = _forward([p[runs] for p in params], xte[runs])
                    ce_step.append(F.cross_entropy(out.transpose(1, 2), yte[runs], reduction="none"))
                    right_step.append(out.argmax(dim=2) == yte[runs])
                ce.append(torch.cat(ce_step))
                right.append(torch.cat(right_step))
    return torch.stack(losses, dim=1), torch.stack(ce, dim=1), torch.stack(right, dim=1)


def _blobs(seed, device):
    s = USUAL
    x, y = classification(
        s["n_train"] + s["n_test"], s["d"], s["k"], separation=s["separation"], seed=seed, device=device
    )
    return x[: s["n_train"]], y[: s["n_train"]], x[s["n_train"] :], y[s["n_train"] :]


def _one_sharp_feature(seed, device):
    """Two balanced-on-average classes; x = (+-1/2) SHARP_DELTA + noise with sd SHARP_SD per coordinate:
    coordinate 0 separates the classes at low variance (1 sd = 0.3 against means 1 apart), coordinates 1-2 weakly
    at high variance (1 sd against means 1 sd apart)."""
    g = generator(seed)
    n = OVERFIT["n_train"] + OVERFIT["n_test"]
    y = torch.randint(0, 2, (n,), generator=g)
    delta, sd = torch.tensor(SHARP_DELTA, dtype=torch.float64), torch.tensor(SHARP_SD, dtype=torch.float64)
    x = (y[:, None].double() - 0.5) * delta + torch.randn(n, len(delta), generator=g, dtype=torch.float64) * sd
    x, y = x.to(device), y.to(device)
    return x[: OVERFIT["n_train"]], y[: OVERFIT["n_train"]], x[OVERFIT["n_train"] :], y[OVERFIT["n_train"] :]


def _stack(make_data, seeds, device):
    parts = [make_data(s, device) for s in seeds]
    return tuple(torch.stack([p[i] for p in parts]) for i in range(4))


def _usual_model(seed, device):
    return mlp(USUAL["d"], USUAL["width"], USUAL["k"], depth=USUAL["depth"], seed=seed, device=device)


def _overfit_model(seed, device):
    return mlp(len(SHARP_DELTA), OVERFIT["width"], 2, depth=OVERFIT["depth"], seed=seed, device=device)


def _seeds(block, runs):
    """Seed block b: seeds 10000 b + r for r < runs (block 0, the default run's, is 0 to runs - 1)."""
    return [10_000 * block + r for r in range(runs)]


@functools.lru_cache(maxsize=4)  # deterministic; several tests read the same runs
def _usual_runs(device, block=0):
    seeds = _seeds(block, USUAL_RUNS)
    data = _stack(_blobs, seeds, device)
    losses, ce, right = _train_many(
        seeds,
        data,
        make_model=lambda s: _usual_model(s, device),
        make_optimizer=lambda ps: torch.optim.SGD(ps, lr=USUAL["lr"]),
        steps=USUAL["steps"],
        batch_size=USUAL["batch_size"],
        checkpoints=set(range(EPOCH, USUAL["steps"] + 1, EPOCH)),
    )
    return data, losses, ce.mean(dim=2).cpu(), right.double().mean(dim=2).cpu(), ce, right


@functools.lru_cache(maxsize=4)
def _overfit_runs(device, block=0):
    seeds = _seeds(block, OVERFIT_RUNS)
    data = _stack(_one_sharp_feature, seeds, device)
    losses, ce, right = _train_many(
        seeds,
        data,
        make_model=lambda s: _overfit_model(s, device),
        make_optimizer=lambda ps: torch.optim.Adam(ps, lr=OVERFIT["lr"]),
        steps=OVERFIT["steps"],
        batch_size=None,
        checkpoints=set(CHECKPOINTS),
    )
    return data, losses, ce, right


def _inverse_share(nll, acc):
    """Among consecutive evaluations where the accuracy changed, the share where the NLL moved the other way."""
    d_nll, d_acc = nll[1:] - nll[:-1], acc[1:] - acc[:-1]
    moved = d_acc != 0
    if not moved.any():
        return None
    return ((torch.sign(d_nll) == -torch.sign(d_acc)) & moved).sum().item() / moved.sum().item()


def _halves(n_test):
    """The held-out samples split in two: the first half chooses the checkpoint, the second half tests it."""
    return slice(0, n_test // 2), slice(n_test // 2, n_test)


def _reversal(ce, right):
    """Per run: from the checkpoint of lowest held-out NLL to the last one, did the NLL rise and the accuracy rise,
    each by more than Z paired standard errors? The checkpoint is chosen on the first half of the held-out samples,
    the changes are measured on the second half (no winner's curse). Returns (event, best checkpoint, NLL change,
    accuracy change), the changes on the second half."""
    choose, test = _halves(ce.shape[2])
    best = ce[:, :, choose].mean(dim=2).argmin(dim=1)
    ce, right = ce[:, :, test], right[:, :, test]
    runs, _, n = ce.shape
    r = torch.arange(runs, device=ce.device)
    d_ce = ce[:, -1] - ce[r, best]
    nll_up = d_ce.mean(dim=1) > Z * d_ce.std(dim=1) / math.sqrt(n)
    became_right = (right[:, -1] & ~right[r, best]).sum(dim=1).double()
    became_wrong = (~right[:, -1] & right[r, best]).sum(dim=1).double()
    acc_up = became_right - became_wrong > Z * (became_right + became_wrong).sqrt()
    return (nll_up & acc_up).cpu(), best.cpu(), d_ce.mean(dim=1).cpu(), ((became_right - became_wrong) / n).cpu()


def test_the_stacked_runs_are_the_runs_train_makes(device):
    # one run of each setting, trained alone by support.training.train: same losses step by step, and in the
    # usual setting the same held-out losses at every epoch (float64; only the matmul summation order differs)
    data, losses, _, _, ce, _ = _usual_runs(device, 0)
    r = OVERFIT_RUNS - 1  # a run of both settings
    model = _usual_model(r, device)
    xte, yte = data[2][r], data[3][r]
    history = train(
        model,
        F.cross_entropy,
        data[0][r],
        data[1][r],
        optimizer=torch.optim.SGD(model.parameters(), lr=USUAL["lr"]),
        steps=USUAL["steps"],
        batch_size=USUAL["batch_size"],
        seed=r,
        evaluate=lambda m: F.cross_entropy(m(xte), yte, reduction="none"),
        evaluate_every=EPOCH,
    )
    make = maker(device)
    assert_close(losses[r], make.tensor(history.losses))
    assert_close(ce[r], torch.stack(history.evaluations))

    data, losses, _, _ = _overfit_runs(device, 0)
    steps = 50  # a prefix: the runs are deterministic, so the first 50 steps are those of the full run
    model = _overfit_model(r, device)
    history = train(
        model,
        F.cross_entropy,
        data[0][r],
        data[1][r],
        optimizer=torch.optim.Adam(model.parameters(), lr=OVERFIT["lr"]),
        steps=steps,
    )
    assert_close(losses[r, :steps], make.tensor(history.losses))


def test_over_a_run_held_out_loss_and_accuracy_usually_move_inversely(device, figures, seed_block):
    _, _, nll, acc, _, _ = _usual_runs(device, seed_block)
    # a run whose accuracy never changes has no rank order of accuracy: it does not count as inverse
    rhos = [
        spearman(nll[r].tolist(), acc[r].tolist()) if len(set(acc[r].tolist())) > 1 else math.nan
        for r in range(USUAL_RUNS)
    ]
    inverse = sum(rho < 0 for rho in rhos)
    p_lower = clopper_pearson_lower(inverse, USUAL_RUNS, CONFIDENCE)
    figures.record(
        "runs with Spearman(held-out NLL, accuracy) < 0",
        inverse,
        "runs",
        note=f"of {USUAL_RUNS}",
        zh="Spearman(验证集 NLL, 准确率) < 0 的训练次数",
        note_zh=f"共 {USUAL_RUNS} 次",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    figures.record(
        "needed for 'more often than not' at 99%",
        successes_needed(USUAL_RUNS, MORE_OFTEN_THAN_NOT, CONFIDENCE),
        "runs",
        note=f"of {USUAL_RUNS}: the fewest whose Clopper-Pearson bound exceeds 1/2",
        zh="在 99% 置信度下表明“多于一半”所需的次数",
        note_zh=f"共 {USUAL_RUNS} 次:使 Clopper-Pearson 界超过 1/2 的最少次数",
    )
    figures.record(
        "rate of inverse runs, 99% lower bound (Clopper-Pearson)",
        p_lower,
        "1",
        zh="反向变化的训练所占比例,99% 下界(Clopper-Pearson)",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    defined = sorted(rho for rho in rhos if not math.isnan(rho))
    figures.record(
        "median Spearman(held-out NLL, accuracy) over runs",
        statistics.median(defined),
        "1",
        zh="各次训练的 Spearman(验证集 NLL, 准确率) 中位数",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    plot = figures.plot(
        f"Spearman(held-out NLL, accuracy) over 15 epochs, {USUAL_RUNS} seeded runs, sorted",
        x_label="run (rank / number of runs)",
        y_label="Spearman rank correlation (1)",
        zh=(
            f"15 个 epoch 上的 Spearman(验证集 NLL, 准确率),{USUAL_RUNS} 次带种子的训练,已排序",
            "训练(名次 / 训练次数)",
            "Spearman 秩相关(1)",
        ),
    )
    ranks = [(i + 0.5) / len(defined) for i in range(len(defined))]
    plot.points("one run per seed", ranks, defined, zh="每个种子一次训练")
    plot.bound("0: no rank relation", [0, 1], [0, 0], zh="0:无秩相关")
    epochs = list(range(1, nll.shape[1] + 1))  # NLL and accuracy share one axis: both lie in [0, 1.2] here
    seed = _seeds(seed_block, USUAL_RUNS)[0]
    curves = figures.plot(
        f"a usual run (seed {seed}): held-out NLL and accuracy per epoch",
        x_label="epoch",
        y_label="NLL (nats) / accuracy (fraction)",
        zh=(f"一次常规训练(种子 {seed}):每个 epoch 的验证集 NLL 与准确率", "轮次(epoch)", "NLL(nats)/ 准确率(比例)"),
    )
    curves.line("held-out NLL (nats)", epochs, nll[0], zh="验证集 NLL(nats)")
    curves.line("held-out accuracy (fraction)", epochs, acc[0], zh="验证集准确率(比例)")
    assert p_lower > MORE_OFTEN_THAN_NOT


def test_from_epoch_to_epoch_held_out_loss_and_accuracy_usually_move_inversely(device, figures, seed_block):
    _, _, nll, acc, _, _ = _usual_runs(device, seed_block)
    shares = [_inverse_share(nll[r], acc[r]) for r in range(USUAL_RUNS)]
    shares = [s for s in shares if s is not None]  # runs whose accuracy moved at least once
    mean = sum(shares) / len(shares)
    bound = hoeffding_lower(mean, len(shares), CONFIDENCE)
    # not absolute even here: epochs in which the held-out NLL and accuracy moved the same way (both rose, or both
    # fell: with accuracy in steps of 1/N, an epoch can lose a sample near the boundary while the NLL still falls)
    d_nll, d_acc = nll[:, 1:] - nll[:, :-1], acc[:, 1:] - acc[:, :-1]
    same_way = ((d_nll > 0) & (d_acc > 0)) | ((d_nll < 0) & (d_acc < 0))
    both_up = ((d_nll > 0) & (d_acc > 0)).sum().item()
    figures.record(
        "mean share of epochs where NLL and accuracy move inversely",
        mean,
        "1",
        note=f"over {len(shares)} runs, among the epochs where the accuracy changed",
        zh="NLL 与准确率反向变化的 epoch 所占的平均比例",
        note_zh=f"基于 {len(shares)} 次训练,只计准确率有变化的 epoch",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    figures.record(
        "same, 99% lower bound (Hoeffding)",
        bound,
        "1",
        zh="同上,99% 下界(Hoeffding)",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    figures.record(
        "runs with an epoch where held-out NLL and accuracy moved the same way",
        same_way.any(dim=1).sum().item(),
        "runs",
        note=f"of {USUAL_RUNS}; {same_way.sum().item()} such epochs: {both_up} both rose, "
        f"{same_way.sum().item() - both_up} both fell",
        zh="出现验证集 NLL 与准确率同向变化的 epoch 的训练次数",
        note_zh=f"共 {USUAL_RUNS} 次;这样的 epoch 共 {same_way.sum().item()} 个:{both_up} 个同时上升,"
        f"{same_way.sum().item() - both_up} 个同时下降",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    plot = figures.plot(
        "share of epochs where held-out NLL and accuracy move inversely, per run, sorted",
        x_label="run (rank / number of runs)",
        y_label="share of epochs (fraction)",
        zh=(
            "每次训练中验证集 NLL 与准确率反向变化的 epoch 所占比例,已排序",
            "训练(名次 / 训练次数)",
            "epoch 所占比例(比例)",
        ),
    )
    plot.points(
        "one run per seed", [(i + 0.5) / len(shares) for i in range(len(shares))], sorted(shares), zh="每个种子一次训练"
    )
    plot.bound("1/2: as often inverse as not", [0, 1], [0.5, 0.5], zh="1/2:反向与非反向一样多")
    assert len(shares) > USUAL_RUNS / 2  # the bound speaks for most runs, not a handful
    assert bound > MORE_OFTEN_THAN_NOT
    # "single epochs can disagree" is a claim that something exists, not a rate: one epoch of these seeded,
    # deterministic runs in which both moved the same way shows it
    assert same_way.any()


def test_after_its_minimum_the_held_out_nll_often_rises_while_accuracy_still_improves(device, figures, seed_block):
    _, losses, ce, right = _overfit_runs(device, seed_block)
    event, best, d_nll, d_acc = _reversal(ce, right)
    k = event.sum().item()
    p_lower = clopper_pearson_lower(k, OVERFIT_RUNS, CONFIDENCE)
    # the same judgement on the usual runs, recorded only: there the held-out NLL is typically still falling at the end
    usual_event = _reversal(*_usual_runs(device, seed_block)[4:])[0]
    figures.record(
        "overfitting setting: runs where NLL and accuracy both rise after the NLL minimum",
        k,
        "runs",
        note=f"of {OVERFIT_RUNS}; each change > {Z:g} paired standard errors",
        zh="过拟合设置:NLL 达到最低点后 NLL 与准确率都上升的训练次数",
        note_zh=f"共 {OVERFIT_RUNS} 次;每项变化都超过 {Z:g} 个配对标准误",
        measured_on=OVERFIT_ON,
        measured_on_zh=OVERFIT_ON_ZH,
    )
    figures.record(
        "overfitting setting: rate, 99% lower bound (Clopper-Pearson)",
        p_lower,
        "1",
        zh="过拟合设置:比例的 99% 下界(Clopper-Pearson)",
        measured_on=OVERFIT_ON,
        measured_on_zh=OVERFIT_ON_ZH,
    )
    figures.record(
        "needed for 'at least one run in four' at 99%",
        successes_needed(OVERFIT_RUNS, COMMON, CONFIDENCE),
        "runs",
        note=f"of {OVERFIT_RUNS}: the fewest whose Clopper-Pearson bound exceeds 1/4",
        zh="在 99% 置信度下表明“至少四次中有一次”所需的次数",
        note_zh=f"共 {OVERFIT_RUNS} 次:使 Clopper-Pearson 界超过 1/4 的最少次数",
    )
    figures.record(
        "usual setting: runs with the same reversal",
        usual_event.sum().item(),
        "runs",
        note=f"of {USUAL_RUNS}",
        zh="常规设置:出现同样反转的训练次数",
        note_zh=f"共 {USUAL_RUNS} 次",
        measured_on=USUAL_ON,
        measured_on_zh=USUAL_ON_ZH,
    )
    plot = figures.plot(
        "after the held-out NLL minimum: change in NLL against change in accuracy, per run",
        x_label="held-out accuracy (test half), last minus at the NLL minimum (fraction)",
        y_label="held-out NLL (test half), last minus at the minimum (nats)",
        zh=(
            "验证集 NLL 达到最低点之后:每次训练的 NLL 变化与准确率变化",
            "验证集准确率(检验用的一半),最终值减去 NLL 最低点处的值(比例)",
            "验证集 NLL(检验用的一半),最终值减去最低点处的值(nats)",
        ),
    )
    plot.points("reversal: both rise significantly", d_acc[event], d_nll[event], zh="反转:二者都显著上升")
    plot.points("other runs", d_acc[~event], d_nll[~event], zh="其他训练")
    assert p_lower > COMMON
    first = int(event.nonzero()[0])  # the lowest seed with the reversal, not a chosen one
    seed = _seeds(seed_block, OVERFIT_RUNS)[first]
    curves = figures.plot(
        f"an overfitting run (seed {seed}, the first with the reversal): held-out NLL and accuracy",
        x_label="Adam step (full batch of 10)",
        y_label="NLL (nats) / accuracy (fraction)",
        log_x=True,
        zh=(
            f"一次过拟合训练(种子 {seed},第一个出现反转的种子):验证集 NLL 与准确率",
            "Adam 步数(全批量,10 个样本)",
            "NLL(nats)/ 准确率(比例)",
        ),
    )
    curves.line("held-out NLL (nats)", CHECKPOINTS, ce[first].mean(dim=1), zh="验证集 NLL(nats)")
    curves.line("held-out accuracy (fraction)", CHECKPOINTS, right[first].double().mean(dim=1), zh="验证集准确率(比例)")
    curves.bound(
        "training loss (nats)", CHECKPOINTS, [losses[first, s - 1].item() for s in CHECKPOINTS], zh="训练损失(nats)"
    )
    # the mechanism, as a rate over the reversal runs: meanwhile the training loss kept falling (overfitting), and
    # the samples wrong at the end (of the test half) cost more than they did at the NLL minimum (confidence on the
    # wrong answers)
    test = _halves(ce.shape[2])[1]
    reversal_runs = event.nonzero().flatten().tolist()
    mechanism = 0
    for r in reversal_runs:
        b = best[r].item()
        wrong = ~right[r, -1, test]
        mechanism += bool(
            losses[r, -1] < losses[r, CHECKPOINTS[b] - 1]
            and ce[r, -1, test][wrong].mean() > ce[r, b, test][wrong].mean()
        )
    figures.record(
        "reversal runs whose training loss kept falling and whose wrong samples grew costlier",
        mechanism,
        "runs",
        note=f"of {len(reversal_runs)} reversal runs",
        zh="训练损失持续下降且分错样本代价变大的反转训练次数",
        note_zh=f"共 {len(reversal_runs)} 次反转训练",
        measured_on=OVERFIT_ON,
        measured_on_zh=OVERFIT_ON_ZH,
    )
    assert clopper_pearson_lower(mechanism, len(reversal_runs), CONFIDENCE) > MORE_OFTEN_THAN_NOT
