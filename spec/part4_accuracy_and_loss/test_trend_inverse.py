"""trend.inverse

Source: 「通常情况下,随着模型性能的提升,准确率会提高,而损失值会降低。这是因为较低的损失值 意味着模型的预测更接近真实标签,从而导致更高的准确率。然而,这种关系并不是绝对的。」

What is true (qualified): usually, not always. Training small classifiers on synthetic Gaussian blobs and
measuring held-out cross-entropy and accuracy after every epoch, the two move in opposite directions: the
Spearman rank correlation of (loss, accuracy) over the epochs is negative in every run and strongly so
(< -0.8) in most; it is weaker when accuracy plateaus, because accuracy only takes values k/N while the loss
keeps falling. But the relation can reverse: a small network trained for long on few noisy samples can
reach its lowest held-out NLL early, after which the NLL rises a lot while the held-out accuracy still
improves. This is an existence claim, shown on one chosen run, not a typical behaviour: of seeds 20-25,
accuracy keeps rising after the NLL minimum in two (21, 25), and only 21 passes every check. The network becomes overconfident: its growing logits sharpen the decision boundary (more right
answers) and make the remaining wrong answers very costly. Guo et al. 2017 (sec. 3, Fig. 3) show the same on
CIFAR-100 ("the network learns better classification accuracy at the expense of well-modeled probabilities").
"""

import statistics

import pytest
import torch
import torch.nn.functional as F

from support.data import classification
from support.metrics import accuracy, spearman
from support.models import mlp
from support.training import train

pytestmark = pytest.mark.claim("trend.inverse")


def _nll_and_accuracy(model, x, y):
    out = model(x)  # one forward pass for both figures
    return F.cross_entropy(out, y).item(), accuracy(out, y)


def _held_out_run(seed, *, n_train, n_test, sep, width, depth, lr, momentum, steps, batch_size, every, d, k):
    x, y = classification(n_train + n_test, d, k, separation=sep, seed=seed)
    xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    model = mlp(d, width, k, depth=depth, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    history = train(model, F.cross_entropy, xtr, ytr, optimizer=opt, steps=steps, batch_size=batch_size, seed=seed,
                    evaluate=lambda m: _nll_and_accuracy(m, xte, yte),
                    evaluate_every=every)
    nll = [e[0] for e in history.evaluations]
    acc = [e[1] for e in history.evaluations]
    return history, nll, acc


def test_held_out_loss_and_accuracy_are_usually_rank_anticorrelated(figures):
    # 6 seeds; 200 training samples in minibatches of 25, 8 steps = 1 epoch, 15 epochs; 200 held-out samples
    rhos = []
    for seed in range(6):
        _, nll, acc = _held_out_run(seed, n_train=200, n_test=200, sep=1.5, width=16, depth=2,
                                    lr=0.05, momentum=0.0, steps=120, batch_size=25, every=8, d=4, k=3)
        rhos.append(spearman(nll, acc))
        figures.record(f"Spearman(held-out NLL, accuracy) over epochs, seed {seed}", rhos[-1], "1")
        if seed == 0:  # NLL and accuracy share one axis: both lie in [0, 1.2] here, and the point is their trends
            epochs = list(range(1, len(nll) + 1))
            labels = dict(plot="usual run (seed 0): held-out NLL and accuracy per epoch", x_label="epoch",
                          y_label="NLL (nats) / accuracy (fraction)")
            figures.series("held-out NLL (nats)", epochs, nll, **labels)
            figures.series("held-out accuracy (fraction)", epochs, acc, **labels)
    # "usually": negative in every run, and a strong anticorrelation (below -0.8, i.e. the two orders agree on
    # most pairs of epochs) in the typical run; single runs with an accuracy plateau are allowed to be weaker
    assert max(rhos) < 0
    assert statistics.median(rhos) < -0.8


def test_an_overfitting_network_gets_worse_nll_and_better_accuracy(figures):
    # few (30) overlapping training samples, 600 held-out, full-batch SGD with momentum for 400 steps.
    # Seed 21 is a chosen instance (of seeds 20-25 accuracy rises after the NLL minimum only for 21 and 25,
    # and 25's NLL rises less than 1.5x): the claim is that such a run exists, not that it is typical.
    history, nll, acc = _held_out_run(21, n_train=30, n_test=600, sep=1.5, width=16, depth=3,
                                      lr=0.02, momentum=0.9, steps=400, batch_size=None, every=10,
                                      d=2, k=3)
    best = min(range(len(nll)), key=nll.__getitem__)
    steps = [10 * (i + 1) for i in range(len(nll))]
    figures.record("step of the lowest held-out NLL", steps[best], "steps")
    figures.record("held-out NLL: lowest", nll[best], "nats")
    figures.record("held-out NLL: final", nll[-1], "nats")
    figures.record("held-out accuracy at the NLL minimum", acc[best], "1")
    figures.record("held-out accuracy: final", acc[-1], "1")
    figures.record("Spearman(NLL, accuracy) after the NLL minimum", spearman(nll[best:], acc[best:]), "1")
    labels = dict(plot="overfitting run: held-out NLL and accuracy per step", x_label="SGD step (full batch)",
                  y_label="NLL (nats) / accuracy (fraction)")
    figures.series("held-out NLL (nats)", steps, nll, **labels)
    figures.series("held-out accuracy (fraction)", steps, acc, **labels)
    figures.series(f"lowest held-out NLL (step {steps[best]})", [steps[best]], [nll[best]], style="points", **labels)
    assert 0 < best < len(nll) - 10  # the minimum is interior, with a long stretch of training after it
    assert history.losses[-1] < 0.75 * history.losses[steps[best] - 1]  # meanwhile the training loss kept falling
    # judgements: NLL up by half its best value is far beyond evaluation noise (the set is fixed, so the curve
    # is deterministic); accuracy up by 0.03 = 18 more right answers of 600, not a one-sample flicker
    assert nll[-1] > 1.5 * nll[best]
    assert acc[-1] > acc[best] + 0.03
    # after the minimum, NLL and accuracy rise together: the rank correlation has flipped sign
    assert spearman(nll[best:], acc[best:]) > 0
