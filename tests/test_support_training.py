"""support.training.train: the shared training loop."""

import math

import pytest
import torch

from support.data import classification, regression
from support.errors import SpecInputError
from support.models import linear_model, mlp
from support.training import History, train


def _sgd(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr)


def test_full_batch_training_follows_sgd_and_records_pre_step_losses():
    # one full-batch step with lr 0.1 must equal the manual update, and the recorded loss is the pre-step one
    x, y = regression(16, 3, 1, seed=0)
    model, manual = linear_model(3, 1, seed=0), linear_model(3, 1, seed=0)
    history = train(model, torch.nn.functional.mse_loss, x, y, optimizer=_sgd(model, 0.1), steps=1)
    loss = torch.nn.functional.mse_loss(manual(x), y)
    loss.backward()
    assert history.losses == [loss.item()]
    assert math.isclose(
        history.grad_norms[0], torch.cat([p.grad.reshape(-1) for p in manual.parameters()]).norm().item()
    )
    for p, q in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(p.detach(), q.detach() - 0.1 * q.grad)


def test_minibatches_cover_each_sample_once_per_epoch():
    x, _ = classification(12, 2, 2, seed=1)
    y = torch.arange(12)  # targets name their sample, so the batches show which samples they hold
    seen = []
    model = linear_model(2, 12, seed=1)

    def loss_fn(out, target):
        seen.append(target.tolist())
        return torch.nn.functional.cross_entropy(out, target)

    train(model, loss_fn, x, y, optimizer=_sgd(model, 0.1), steps=6, batch_size=4)
    assert [len(b) for b in seen] == [4] * 6
    for epoch in (seen[:3], seen[3:]):  # 3 batches of 4 make one epoch of 12: each sample exactly once
        assert sorted(i for b in epoch for i in b) == list(range(12))
    assert seen[:3] != seen[3:]  # reshuffled between epochs


def test_clipping_bounds_the_update_but_history_keeps_the_pre_clip_norm():
    x, y = regression(8, 3, 1, seed=2)
    y = 1e3 * y  # large residuals: a large gradient
    model = linear_model(3, 1, seed=2)
    before = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    history = train(model, torch.nn.functional.mse_loss, x, y, optimizer=_sgd(model, 1.0), steps=1, clip_norm=0.5)
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert history.grad_norms[0] > 0.5
    assert (after - before).norm() <= 0.5 * (1 + 1e-6)


def test_run_stops_at_the_first_non_finite_loss():
    x, y = regression(8, 3, 1, seed=3)
    model = mlp(3, 8, 1, depth=3, seed=3)
    history = train(model, torch.nn.functional.mse_loss, x, y, optimizer=_sgd(model, 1e6), steps=50)
    assert not history.finite
    assert history.first_non_finite_step == len(history.losses) - 1 < 49


def test_evaluate_runs_every_k_steps_and_after_the_last():
    x, y = classification(8, 2, 2, seed=4)
    model = linear_model(2, 2, seed=4)
    history = train(
        model,
        torch.nn.functional.cross_entropy,
        x,
        y,
        optimizer=_sgd(model, 0.1),
        steps=5,
        evaluate=lambda m: torch.is_grad_enabled(),
        evaluate_every=2,
    )
    assert history.evaluations == [False, False, False]  # steps 2, 4 and the last (5), under no_grad


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 99}, "batch_size 99 exceeds"),
        ({"clip_norm": -1.0}, "clip_norm"),
        ({"evaluate_every": 0}, "evaluate_every"),
        ({"optimizer": "sgd"}, "optimizer must be"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    x, y = regression(8, 3, 1, seed=5)
    model = linear_model(3, 1, seed=5)
    args = {"optimizer": _sgd(model, 0.1), "steps": 1, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        train(model, torch.nn.functional.mse_loss, x, y, **args)


def test_empty_history_is_finite():
    assert History().finite and History().first_non_finite_step is None
