"""distributed.ddp-mean

What is true (qualified):
- DistributedDataParallel all-reduces the gradients and divides them by the world size W: with a mean loss and equal
  local batch sizes every rank then holds the single-process gradient of the global batch's mean loss.
- Inside no_sync() the gradients stay local, and the next backward outside it synchronises what was accumulated, so
  micro-batch accumulation works across ranks.
- With unequal local batch sizes n_r the average of the local mean gradients, (1/W) sum_r g_r, is not the global
  mean gradient sum_r (n_r / n) g_r; scaling rank r's mean loss by W n_r / n restores it.

Why: DDP averages the gradients across processes in its all-reduce (PyTorch docs,
torch.nn.parallel.DistributedDataParallel; Li et al. 2020, PyTorch Distributed, sec. 3.2 and 4). The local mean
gradient g_r weighs each of its samples by 1 / n_r, so (1/W) sum_r g_r weighs them by 1 / (W n_r), the global mean
by 1 / n; Goyal et al. 2017 (sec. 3, Remark 3) normalise the per-worker loss by the total minibatch size.
The experiment runs W = 3 CPU processes with the gloo backend on the loopback interface (one spawned interpreter
that forks the other ranks, rendezvous through a fresh file:// in the session's temporary directory): three, not
two, so that dividing by W is told apart from halving. One launch runs every scenario (shared with
distributed.uneven), each rank writes its gradients to a file, and the test compares them with gradients computed in
one process from the same seeded model and data. Equal sizes (4, 4, 4)
give the global mean gradient on every rank; under no_sync() each rank keeps its own local gradient; half the batch
under no_sync() and half synchronised (each loss / 2) gives the global mean again. Unequal sizes (2, 3, 7) give
(g_0 + g_1 + g_2) / 3, which misses the global mean by sum_r (1/3 - n_r/12) g_r, and rank losses scaled by
W n_r / n restore it.
"""

import pytest
import torch
import torch.nn.functional as F

from support.ddp_launch import unavailable_reason
from support.distributed import SPEC_CONFIG, global_batch, local_batch, make_model
from support.gradients import flat_grad
from support.tolerances import EXACT, accumulation, assert_close, assert_ge

pytestmark = pytest.mark.claim("distributed.ddp-mean")
CONFIG = SPEC_CONFIG  # (4, 4, 4) and (2, 3, 7) samples per rank; the run is shared with distributed.uneven
W = CONFIG.world_size
GRADIENT_SCENARIOS = ("equal", "no_sync", "accumulate", "unequal", "unequal_weighted")
# what the gradients were measured on (the report shows it next to each figure)
MEASURED_ON = (
    f"tanh MLP {CONFIG.in_features}-{CONFIG.width}-{CONFIG.out_features}, MSELoss on regression samples, {W} gloo "
    "processes"
)
MEASURED_ON_ZH = (
    f"tanh MLP {CONFIG.in_features}-{CONFIG.width}-{CONFIG.out_features},在回归样本上计算 MSELoss,{W} 个 gloo 进程"
)


def _mean_loss_grad(x, y):
    model = make_model(CONFIG)
    F.mse_loss(model(x), y).backward()
    return flat_grad(model)


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_ddp_averages_gradients_across_three_gloo_processes(ddp_run, figures):
    run = ddp_run
    # Judge what the ranks wrote, not their exit codes: gloo can abort while the interpreter exits, after a
    # rank has written its (complete, atomically renamed) result file. Exit codes and logs only explain a
    # missing result.
    assert not run.missing, run.diagnostics()
    ranks = run.results
    assert len(ranks) == W and all(set(GRADIENT_SCENARIOS) <= set(res) for res in ranks)
    n_terms = sum(CONFIG.equal_sizes)
    tol = accumulation(torch.float64, n_terms)  # the same per-sample terms summed in a different order

    def real(difference, what):  # not rounding: assert_close would accept 0 if every entry were within atol/(1-rtol)
        assert_ge(
            difference.abs().max(),
            tol.atol / (1 - tol.rtol),
            slack=EXACT,
            strict=True,
            msg=f"{what} is within the tolerance of 0",
        )

    # 1. equal local batches: every rank holds the single-process gradient of the global batch's mean loss
    global_mean = _mean_loss_grad(*global_batch(CONFIG, CONFIG.equal_sizes))
    local = [_mean_loss_grad(*local_batch(CONFIG, CONFIG.equal_sizes, r)) for r in range(W)]
    for r, res in enumerate(ranks):
        assert_close(res["equal"], global_mean, tol=tol, msg=f"rank {r}: DDP gradient != global mean gradient")

    # 2. no_sync(): each rank keeps the gradient of its own local batch (and they differ, so this is not the
    # average in disguise)
    for r, res in enumerate(ranks):
        assert_close(res["no_sync"], local[r], tol=tol, msg=f"rank {r}: no_sync gradient != local gradient")
        real(local[r] - global_mean, f"rank {r}'s local gradient - the global mean")
    # micro-batch accumulation: half under no_sync (loss / 2), half synchronised (loss / 2) = global mean again
    for r, res in enumerate(ranks):
        assert_close(res["accumulate"], global_mean, tol=tol, msg=f"rank {r}: accumulated DDP gradient")

    # 3. unequal local batch sizes n_r = (2, 3, 7): DDP still averages the local mean gradients, sum_r g_r / W ...
    sizes = CONFIG.unequal_sizes
    n = sum(sizes)
    g = [_mean_loss_grad(*local_batch(CONFIG, sizes, r)) for r in range(W)]
    unequal_global = _mean_loss_grad(*global_batch(CONFIG, sizes))
    for r, res in enumerate(ranks):
        assert_close(res["unequal"], sum(g) / W, tol=tol, msg=f"rank {r}: DDP should average the local means")
    # ... which misses the global mean sum_r (n_r / n) g_r by sum_r (1/W - n_r/n) g_r
    miss = sum((1 / W - n_r / n) * g_r for n_r, g_r in zip(sizes, g))
    assert_close(ranks[0]["unequal"] - unequal_global, miss, tol=tol)
    real(miss, "the derived miss sum_r (1/W - n_r/n) g_r")
    # the fix: rank r's loss times W n_r / n
    for r, res in enumerate(ranks):
        assert_close(res["unequal_weighted"], unequal_global, tol=tol, msg=f"rank {r}: size-weighted DDP loss")

    figures.record(
        "||DDP average - global mean|| / ||global mean|| (n = 2, 3, 7)",
        (ranks[0]["unequal"] - unequal_global).norm() / unequal_global.norm(),
        "1",
        zh="||DDP 平均 - 全局平均|| / ||全局平均||(n = 2, 3, 7)",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
    figures.record(
        "||DDP average - global mean|| / ||global mean|| (n = 4, 4, 4)",
        (ranks[0]["equal"] - global_mean).norm() / global_mean.norm(),
        "1",
        zh="||DDP 平均 - 全局平均|| / ||全局平均||(n = 4, 4, 4)",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
