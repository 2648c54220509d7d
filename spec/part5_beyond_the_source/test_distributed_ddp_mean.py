"""distributed.ddp-mean

What is true (qualified): DistributedDataParallel all-reduces the gradients and divides them by the world size W.
With a mean loss and equal local batch sizes every rank then holds the single-process gradient of the global
batch's mean loss. Inside no_sync() the gradients stay local, and the next backward outside it synchronises what
was accumulated, so micro-batch accumulation works across ranks. With unequal local batch sizes n_r the average of
the local mean gradients, (1/W) sum_r g_r, is not the global mean gradient sum_r (n_r / n) g_r; scaling rank r's
mean loss by W n_r / n restores it.

Why: DDP averages the gradients across processes in its all-reduce (PyTorch docs,
torch.nn.parallel.DistributedDataParallel; Li et al. 2020, PyTorch Distributed, sec. 3.2 and 4). The local mean
gradient g_r weighs each of its samples by 1 / n_r, so (1/W) sum_r g_r weighs them by 1 / (W n_r), the global mean
by 1 / n; Goyal et al. 2017 (sec. 3, Remark 3) normalise the per-worker loss by the total minibatch size.
The experiment runs 2 CPU processes with the gloo backend on the loopback interface (one spawned interpreter that
forks the second rank, rendezvous through a fresh file:// under tmp_path); one launch runs every scenario, each
rank writes its gradients to a file, and the test compares them with gradients computed in one process from the
same seeded model and data. Equal sizes (4, 4) give the global mean gradient on both ranks; under no_sync() each
rank keeps its own local gradient; half the batch under no_sync() and half synchronised (each loss / 2) gives the
global mean again. Unequal sizes (2, 6) give (g_0 + g_1) / 2, which misses the global mean by (1/2 - 2/8) g_0 +
(1/2 - 6/8) g_1 = (g_0 - g_1) / 4, and rank losses scaled by W n_r / n restore it.
"""

import os

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from support.distributed import SCENARIOS, DDPConfig, global_batch, launch, local_batch, make_model
from support.gradients import flat_grad
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("distributed.ddp-mean")
CONFIG = DDPConfig(equal_sizes=(4, 4), unequal_sizes=(2, 6), in_features=3, width=8, out_features=2, seed=5,
                   pg_timeout_s=20.0)
# Every wait is bounded: the launcher kills the ranks after this many seconds. The run takes ~2.5 s on an idle
# 2-core machine (one fresh interpreter imports torch and torch._dynamo, which DDP needs, then forks rank 1);
# 60 s leaves room for a machine loaded by other pytest workers, and the process group's own timeout (20 s)
# ends a rank stuck in a collective before that.
LAUNCH_TIMEOUT_S = 60.0
LOOPBACK_ONLY = {"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}


def _mean_loss_grad(x, y):
    model = make_model(CONFIG)
    F.mse_loss(model(x), y).backward()
    return flat_grad(model)


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="torch built without gloo")
@pytest.mark.skipif(not hasattr(os, "fork"),
                    reason="the launcher's interpreter forks the second rank (no os.fork here)")
def test_ddp_averages_gradients_across_two_gloo_processes(tmp_path, figures):
    run = launch(CONFIG, tmp_path / "ddp", env=LOOPBACK_ONLY, timeout_s=LAUNCH_TIMEOUT_S)
    # Judge what the ranks wrote, not their exit codes: gloo can abort while the interpreter exits, after a
    # rank has written its (complete, atomically renamed) result file. Exit codes and logs only explain a
    # missing result.
    assert not run.missing, run.diagnostics()
    rank0, rank1 = run.results
    assert set(rank0) == set(rank1) == set(SCENARIOS)
    n_terms = sum(CONFIG.equal_sizes)
    tol = accumulation(torch.float64, n_terms)  # the same per-sample terms summed in a different order

    # 1. equal local batches: every rank holds the single-process gradient of the global batch's mean loss
    global_mean = _mean_loss_grad(*global_batch(CONFIG, CONFIG.equal_sizes))
    local = [_mean_loss_grad(*local_batch(CONFIG, CONFIG.equal_sizes, r)) for r in range(2)]
    for r, res in enumerate((rank0, rank1)):
        assert_close(res["equal"], global_mean, tol=tol, msg=f"rank {r}: DDP gradient != global mean gradient")

    # 2. no_sync(): each rank keeps the gradient of its own local batch (and the two differ, so this is not
    # the average in disguise)
    for r, res in enumerate((rank0, rank1)):
        assert_close(res["no_sync"], local[r], tol=tol, msg=f"rank {r}: no_sync gradient != local gradient")
    assert (local[0] - local[1]).abs().max() > 1e3 * tol.atol
    # micro-batch accumulation: half under no_sync (loss / 2), half synchronised (loss / 2) = global mean again
    for r, res in enumerate((rank0, rank1)):
        assert_close(res["accumulate"], global_mean, tol=tol, msg=f"rank {r}: accumulated DDP gradient")

    # 3. unequal local batch sizes n = (2, 6): DDP still averages the two local mean gradients ...
    n0, n1 = CONFIG.unequal_sizes
    n = n0 + n1
    g0, g1 = (_mean_loss_grad(*local_batch(CONFIG, CONFIG.unequal_sizes, r)) for r in range(2))
    unequal_global = _mean_loss_grad(*global_batch(CONFIG, CONFIG.unequal_sizes))
    for r, res in enumerate((rank0, rank1)):
        assert_close(res["unequal"], (g0 + g1) / 2, tol=tol, msg=f"rank {r}: DDP should average local means")
    # ... which misses the global mean by (1/2 - n0/n) g0 + (1/2 - n1/n) g1 = (1/4) (g0 - g1) for n = (2, 6)
    assert_close(rank0["unequal"] - unequal_global, (0.5 - n0 / n) * g0 + (0.5 - n1 / n) * g1, tol=tol)
    assert (g0 - g1).abs().max() > 1e3 * tol.atol  # so the miss is real, not rounding
    # the fix: rank r's loss times W n_r / n
    for r, res in enumerate((rank0, rank1)):
        assert_close(res["unequal_weighted"], unequal_global, tol=tol, msg=f"rank {r}: size-weighted DDP loss")

    figures.record("||DDP average - global mean|| / ||global mean|| (n = 2, 6)",
                   (rank0["unequal"] - unequal_global).norm() / unequal_global.norm(), "1",
                   zh="||DDP 平均 - 全局平均|| / ||全局平均||(n = 2, 6)")
    figures.record("||DDP average - global mean|| / ||global mean|| (n = 4, 4)",
                   (rank0["equal"] - global_mean).norm() / global_mean.norm(), "1",
                   zh="||DDP 平均 - 全局平均|| / ||全局平均||(n = 4, 4)")
