"""distributed.uneven

What is true (confirmed):
- DistributedDataParallel all-reduces the gradients in every backward pass: when the ranks have different numbers of
  batches, the rank that runs out finishes without error, and while its process stays alive (the tested case) the
  ranks that still have a batch wait in that batch's all-reduce until the process group's timeout, then raise; the
  default timeout is 30 minutes for gloo (torch.distributed.constants.default_pg_timeout).
- Training inside model.join() (torch.distributed.algorithms.Join) lets every rank complete: at each step the ranks
  still training get the sum of their gradients divided by the initial world size W, so each batch keeps the weight 1/W
  it has when all ranks train.
- With divide_by_initial_world_size=False that sum is divided by the number of ranks still training instead.
- On leaving the join context every rank holds the parameters of the last rank to finish.
- With throw_on_early_termination=True every rank raises instead, at the first step after one rank has run out.
- Without drop_last, DistributedSampler gives every rank ceil(N/W) of N indices, the epoch's order being repeated from
  its start to fill W ceil(N/W) places, so W ceil(N/W) - N samples count twice in the epoch, in a distributed
  evaluation's mean too.
- With drop_last=True every rank gets floor(N/W) distinct indices, and N - W floor(N/W) samples (without shuffling, the
  last ones of the order) are left out that epoch.
- Sharding a dataset by hand into contiguous parts can give the ranks unequal numbers of batches, where
  DistributedSampler gives them equal numbers.

Why: every backward pass under DDP takes part in an all-reduce of the gradients, so every rank has to run the same
number of them, and a rank that has run out stops calling backward. Under join() the finished ranks shadow that
all-reduce with zero gradients, so the sum over the ranks is the sum over the ranks still training. PyTorch docs,
DistributedDataParallel.join: "This context manager will keep track of already-joined DDP processes, and 'shadow' the
forward and backward passes by inserting collective communication operations to match with the ones created by
non-joined DDP processes"; "Once all DDP processes have joined, the context manager will broadcast the model
corresponding to the last joined process to all processes"; divide_by_initial_world_size: "If True, will divide
gradients by the initial world_size DDP training was launched with. If False, will compute the effective world size
(number of ranks that have not depleted their inputs yet)"; throw_on_early_termination: "all trainers will throw an
error once one rank runs out of inputs"; the example's comment "Without the join() API, the below synchronization will
hang blocking for rank 1's allreduce to complete" (torch/nn/parallel/distributed.py, _DDPJoinHook: "Joined processes
contribute zero gradient"). torch.distributed.init_process_group: timeout "Default value is 10 minutes for NCCL and 30
minutes for other backends". torch.utils.data.DistributedSampler: drop_last "If False, the sampler will add extra
indices to make the data evenly divisible across the replicas"; its __iter__ pads the order with its own start
(cyclically when N < W) and hands rank r the places r, r + W, r + 2W, ...; with drop_last, num_samples = ceil((N - W) /
W) = floor(N / W) when W does not divide N. The DDP part shares one launch with distributed.ddp-mean
(support/distributed.py, W = 3 gloo ranks on loopback): ranks 0, 1, 2 have 1, 2, 3 batches of 3 samples. Without Join
the waiting group's timeout is set to 1 s, so the wait is seen and bounded; the rank that ran out stays alive
meanwhile (it goes on to the next scenario and waits in a collective of the main group), which is the case tested:
a rank whose process exits instead closes its connections, and what its peers then see is not tested here. Under
join() the ranks train with SGD (lr 0.1, momentum 0.9), and the test replays the three steps in one process from the
documented rule (the sum of the active ranks' mean-loss gradients over W, or over their number) and compares every
recorded gradient and every rank's final parameters. At step 2 both runs hold the same parameters, so there the
effective-size gradient is exactly 3/2 the default one (2 of 3 ranks active). The sampler part needs no process group:
DistributedSampler(dataset, num_replicas=W, rank=r).
"""

import math
from collections import Counter
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from support.ddp_launch import unavailable_reason
from support.distributed import SPEC_CONFIG, make_model, uneven_batch
from support.gradients import flat_grad, flat_params
from support.tolerances import EXACT, accumulation, assert_close, assert_ge, slack

pytestmark = pytest.mark.claim("distributed.uneven")
CONFIG = SPEC_CONFIG  # the run shared with distributed.ddp-mean
W = CONFIG.world_size
COUNTS = CONFIG.batch_counts  # (1, 2, 3) batches on ranks 0, 1, 2
needs_ranks = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def _ranks(ddp_run):
    # judge what the ranks wrote, not their exit codes (see distributed.ddp-mean): logs explain a missing result
    assert not ddp_run.missing, ddp_run.diagnostics()
    return ddp_run.results


def _replay_joined_training(divide_by_initial_world_size):
    """The documented Join rule in one process: each step, the active ranks' gradients summed over W (or over their
    number); SGD with the same lr and momentum. Returns the gradient of every step and the final parameters."""
    model = make_model(CONFIG)
    opt = torch.optim.SGD(model.parameters(), lr=CONFIG.join_lr, momentum=CONFIG.join_momentum)
    grads = []
    for k in range(max(COUNTS)):
        active = [r for r in range(W) if COUNTS[r] > k]
        opt.zero_grad(set_to_none=True)
        for r in active:  # backward accumulates: the sum of the active ranks' mean-loss gradients
            F.mse_loss(model(uneven_batch(CONFIG, r, k)[0]), uneven_batch(CONFIG, r, k)[1]).backward()
        divisor = W if divide_by_initial_world_size else len(active)
        for p in model.parameters():
            p.grad /= divisor
        grads.append(flat_grad(model).clone())
        opt.step()
    return grads, flat_params(model)


@needs_ranks
def test_without_join_the_ranks_with_batches_left_wait_in_the_all_reduce(ddp_run, figures):
    ranks = _ranks(ddp_run)
    shortest = min(COUNTS)
    for r, res in enumerate(ranks):
        hang = res["uneven_hang"]
        if COUNTS[r] == shortest:  # the rank that runs out: all its passes completed, nothing failed
            assert hang["completed"] == COUNTS[r] and hang["error"] == ""
        else:  # the others completed the batches every rank has, then waited in the next all-reduce ...
            assert hang["completed"] == shortest, f"rank {r}"
            assert "Timed out" in hang["error"], f"rank {r}: {hang['error']!r}"
            # ... for the group's whole timeout (a monotonic clock; 1% for its granularity)
            assert_ge(
                hang["waited_s"],
                CONFIG.hang_timeout_s,
                slack=slack(rel=0.01, reason="clock granularity around a 1 s timeout"),
                msg=f"rank {r}",
            )
    # with no timeout given, that wait lasts 30 minutes for gloo
    assert dist.constants.default_pg_timeout == timedelta(minutes=30)
    figures.record(
        "seconds a rank with a batch left waited (group timeout 1 s)",
        max(res["uneven_hang"]["waited_s"] for res in ranks),
        "s",
        zh="还有 batch 的进程等待的秒数(进程组超时 1 秒)",
    )


@needs_ranks
def test_join_completes_and_weighs_each_batch_by_one_over_the_initial_world_size(ddp_run, figures):
    ranks = _ranks(ddp_run)
    tol = accumulation(torch.float64, W * CONFIG.uneven_batch_size)
    for key, divide_by_initial in (("join", True), ("join_effective", False)):
        grads, params = _replay_joined_training(divide_by_initial)
        for r, res in enumerate(ranks):
            recorded = res[key]["grads"]
            assert len(recorded) == COUNTS[r]  # every rank ran all its batches: nobody hung
            for k, g in enumerate(recorded):
                assert_close(g, grads[k], tol=tol, msg=f"{key}: rank {r}, step {k + 1}")
            # on leaving, every rank holds the last rank's parameters, the result of all three steps
            assert_close(res[key]["params"], params, tol=tol, msg=f"{key}: rank {r}'s final parameters")
    # step 2 (2 of 3 ranks active) starts from the same parameters in both runs: dividing by the 2 active ranks
    # instead of W = 3 makes the gradient exactly 3/2 times larger
    for r in (1, 2):
        assert_close(ranks[r]["join_effective"]["grads"][1], 1.5 * ranks[r]["join"]["grads"][1], tol=tol)
    assert_ge(ranks[1]["join"]["grads"][1].abs().max(), 1e-3, slack=EXACT)  # so 3/2 is not 0 = 3/2 * 0
    # and the two rules end at different parameters
    gap = (ranks[0]["join_effective"]["params"] - ranks[0]["join"]["params"]).norm()
    assert gap > 1e-3
    figures.record(
        "||final params, effective world size - initial world size||",
        gap,
        "parameter units",
        zh="||最终参数:按实际进程数 - 按初始进程数||",
        measured_on=f"tanh MLP {CONFIG.in_features}-{CONFIG.width}-{CONFIG.out_features}, MSELoss, {W} ranks with "
        f"{COUNTS} batches of {CONFIG.uneven_batch_size} regression samples, SGD lr {CONFIG.join_lr}, momentum "
        f"{CONFIG.join_momentum}",
        measured_on_zh=f"tanh MLP {CONFIG.in_features}-{CONFIG.width}-{CONFIG.out_features},MSELoss,{W} 个进程分别有 "
        f"{COUNTS} 个 batch,每个 batch {CONFIG.uneven_batch_size} 个回归样本,SGD lr {CONFIG.join_lr},momentum "
        f"{CONFIG.join_momentum}",
    )


@needs_ranks
def test_throw_on_early_termination_makes_every_rank_raise(ddp_run):
    ranks = _ranks(ddp_run)
    for r, res in enumerate(ranks):
        throw = res["join_throw"]
        assert throw["completed"] == min(COUNTS), f"rank {r}"  # the first step after one rank ran out
        if COUNTS[r] == min(COUNTS):
            assert throw["error"] == f"Rank {r} exhausted all inputs."
        else:
            assert throw["error"] == "Detected at least one rank that exhausted inputs. Throwing across all ranks."


def _rank_indices(n, world, rank, *, shuffle, drop_last):
    dataset = TensorDataset(torch.arange(n))
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=3, drop_last=drop_last)
    return list(sampler)


@given(n=st.integers(1, 40), world=st.integers(1, 6), shuffle=st.booleans())
def test_distributed_sampler_pads_by_repeating_the_order_from_its_start(n, world, shuffle):
    per_rank = [_rank_indices(n, world, r, shuffle=shuffle, drop_last=False) for r in range(world)]
    places = math.ceil(n / world)
    assert all(len(indices) == places for indices in per_rank)  # ceil(N/W) for every rank
    # rank r holds places r, r + W, r + 2W, ... of the padded order
    padded = [per_rank[j % world][j // world] for j in range(world * places)]
    order = padded[:n]
    assert sorted(order) == list(range(n))  # the epoch's order covers every sample once ...
    assert padded == [order[j % n] for j in range(world * places)]  # ... and is repeated from its start to fill
    counts = Counter(padded)
    assert sum(c - 1 for c in counts.values()) == world * places - n


@given(n=st.integers(1, 40), world=st.integers(1, 6), shuffle=st.booleans())
def test_distributed_sampler_with_drop_last_skips_the_tail_of_the_order(n, world, shuffle):
    per_rank = [_rank_indices(n, world, r, shuffle=shuffle, drop_last=True) for r in range(world)]
    places = n // world
    assert all(len(indices) == places for indices in per_rank)  # floor(N/W), 0 when N < W
    kept = [per_rank[j % world][j // world] for j in range(world * places)]
    assert len(set(kept)) == len(kept) == world * places  # no repeats; N - W floor(N/W) samples left out
    if not shuffle:
        assert kept == list(range(world * places))  # the skipped ones are the tail of the order


def test_padding_counts_samples_twice_in_an_epoch_and_hand_sharding_makes_batch_counts_uneven(figures):
    n, world, batch = 10, 4, 2
    per_rank = [_rank_indices(n, world, r, shuffle=True, drop_last=False) for r in range(world)]
    # per-sample values (e.g. losses in an evaluation): the mean over the ranks' padded epoch counts 2 samples twice
    values = torch.linspace(0.5, 5.0, n, dtype=torch.float64)
    seen = torch.tensor([i for indices in per_rank for i in indices])
    assert len(seen) == 12  # 4 ranks x ceil(10/4)
    twice = [i for i, c in Counter(seen.tolist()).items() if c == 2]
    assert len(twice) == 2
    padded_mean = values[seen].mean()
    assert_close(padded_mean, (values.sum() + values[twice].sum()) / 12)
    assert (padded_mean - values.mean()).abs() > 1e-3  # two distinct values counted twice move the mean
    # every rank gets the same number of batches from DistributedSampler ...
    dataset = TensorDataset(torch.arange(n))
    loaders = [
        DataLoader(dataset, batch_size=batch, sampler=DistributedSampler(dataset, num_replicas=world, rank=r, seed=3))
        for r in range(world)
    ]
    assert {len(loader) for loader in loaders} == {2}
    # ... while contiguous hand-made shards (sizes 3, 3, 2, 2) give 2, 2, 1, 1 batches: the case that needs Join
    shards = torch.arange(n).tensor_split(world)
    batch_counts = [len(DataLoader(Subset(dataset, shard.tolist()), batch_size=batch)) for shard in shards]
    assert batch_counts == [2, 2, 1, 1]
    figures.record(
        "mean over the padded epoch - dataset mean (N = 10, W = 4)",
        padded_mean - values.mean(),
        "value",
        zh="补齐后的 epoch 上的平均 - 数据集平均(N = 10,W = 4)",
        measured_on=f"per-sample values evenly spaced from {values[0].item():g} to {values[-1].item():g}, shuffled "
        "DistributedSampler",
        measured_on_zh=f"每个样本的值在 {values[0].item():g} 到 {values[-1].item():g} 之间等距分布,DistributedSampler "
        "打乱顺序",
    )
