"""The DistributedDataParallel experiment the distributed claims read: its configuration, the data each rank
takes, and the work every rank does (gloo backend on CPU, loopback only). Starting the ranks, waiting for them with a
deadline and reading back what they wrote is support.ddp_launch's.

The scenarios (one process group, one DDP model, run in this order on every rank):

* ``equal``: rank r takes its slice of ``equal_sizes`` from a global batch; mean MSE loss; backward.
* ``no_sync``: the same local batch, backward inside ``ddp.no_sync()``: gradients are not communicated.
* ``accumulate``: the local batch split into two equal micro-batches; the first backward (loss / 2) inside
  ``no_sync()``, the second (loss / 2) outside it: the accumulated gradients are synchronised then.
* ``unequal``: local sizes ``unequal_sizes`` (different per rank); plain mean loss per rank.
* ``unequal_weighted``: the same batches, each rank's mean loss multiplied by W * n_r / n.

Then the uneven numbers of batches (rank r has ``batch_counts[r]`` batches of ``uneven_batch_size`` samples):

* ``uneven_hang``: a DDP model on a process group whose timeout is ``hang_timeout_s``; each rank runs its batches
  without Join. The rank that runs out stops; the others wait in the next all-reduce until the timeout. Each rank
  records how many backward passes completed, the error it got ("" if none) and how long the failing pass waited.
* ``join``: the same batches under ``ddp.join()`` with SGD steps: every step's gradient and the final parameters.
* ``join_effective``: the same with ``divide_by_initial_world_size=False``.
* ``join_throw``: under ``ddp.join(throw_on_early_termination=True)``: the error each rank got, after how many
  backward passes.

Each rank saves ``{scenario: result}`` to ``rank<r>.pt`` in the output directory (a flat float64 gradient for the
first five, a dict for the others), and its output to ``rank<r>.log``.
By hand: ``python -m support.distributed --init-file F --out D`` (``run_all_ranks``: one interpreter that forks
the other ranks; see support.ddp_launch).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import torch

from support import _arguments
from support.errors import SpecInputError

LOOPBACK_INTERFACE = "lo"
LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost")
SCENARIOS = (
    "equal",
    "no_sync",
    "accumulate",
    "unequal",
    "unequal_weighted",
    "uneven_hang",
    "join",
    "join_effective",
    "join_throw",
)


@dataclass(frozen=True)
class DDPConfig:
    """The experiment's sizes and seed. ``equal_sizes``/``unequal_sizes`` hold one local batch size per rank."""

    equal_sizes: tuple[int, ...] = (4, 4)
    unequal_sizes: tuple[int, ...] = (2, 6)
    in_features: int = 3
    width: int = 8
    out_features: int = 2
    seed: int = 0
    pg_timeout_s: float = 20.0  # the process group's timeout: a collective waiting longer fails
    uneven_batches: tuple[int, ...] | None = None  # batches per rank in the uneven scenarios; None: 1, 2, ..., W
    uneven_batch_size: int = 3
    hang_timeout_s: float = 1.0  # the timeout of the group the uneven_hang scenario waits in
    join_lr: float = 0.1  # SGD of the join scenarios
    join_momentum: float = 0.9

    def __post_init__(self) -> None:
        for name in ("equal_sizes", "unequal_sizes"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or len(sizes) < 2:
                raise SpecInputError(
                    f"{name} must be a tuple with one local batch size per rank (>= 2 ranks), got {sizes!r}"
                )
            for s in sizes:
                _arguments.positive_int(name, s)
        if len(self.equal_sizes) != len(self.unequal_sizes):
            raise SpecInputError(
                f"equal_sizes and unequal_sizes must have one entry per rank each, "
                f"got {self.equal_sizes} and {self.unequal_sizes}"
            )
        if len(set(self.equal_sizes)) != 1:
            raise SpecInputError(f"equal_sizes must all be equal, got {self.equal_sizes}")
        if self.equal_sizes[0] % 2:
            raise SpecInputError(
                f"equal_sizes must be even (the accumulate scenario halves them), got {self.equal_sizes}"
            )
        for name in ("in_features", "width", "out_features"):
            _arguments.positive_int(name, getattr(self, name))
        _arguments.seed(self.seed)
        _arguments.positive_float("pg_timeout_s", self.pg_timeout_s)
        if self.uneven_batches is not None:
            if not isinstance(self.uneven_batches, tuple) or len(self.uneven_batches) != len(self.equal_sizes):
                raise SpecInputError(
                    f"uneven_batches must be a tuple with one number of batches per rank, got {self.uneven_batches!r}"
                )
            for count in self.uneven_batches:
                _arguments.positive_int("uneven_batches", count)
            if len(set(self.uneven_batches)) == 1:
                raise SpecInputError(f"uneven_batches must not all be equal, got {self.uneven_batches}")
        _arguments.positive_int("uneven_batch_size", self.uneven_batch_size)
        _arguments.positive_float("hang_timeout_s", self.hang_timeout_s)
        if not self.hang_timeout_s < self.pg_timeout_s:
            raise SpecInputError(
                f"hang_timeout_s must be below pg_timeout_s (the others wait in the main group meanwhile), got "
                f"{self.hang_timeout_s} and {self.pg_timeout_s}"
            )
        _arguments.positive_float("join_lr", self.join_lr)
        _arguments.positive_float("join_momentum", self.join_momentum, allow_zero=True)

    @property
    def world_size(self) -> int:
        return len(self.equal_sizes)

    @property
    def batch_counts(self) -> tuple[int, ...]:
        """Batches per rank in the uneven scenarios."""
        return self.uneven_batches if self.uneven_batches is not None else tuple(range(1, self.world_size + 1))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DDPConfig:
        raw = json.loads(text)
        for name in ("equal_sizes", "unequal_sizes", "uneven_batches"):
            if raw.get(name) is not None:
                raw[name] = tuple(raw[name])
        return cls(**raw)


# The run the spec's DDP claims share (distributed.ddp-mean and distributed.uneven; support.ddp_launch.launch_once
# runs it once a session): three ranks, so that dividing by W is told apart from halving; unequal local batch sizes
# (2, 3, 7); and 1, 2, 3 batches per rank for the uneven scenarios, whose waiting group times out after 1 s
SPEC_CONFIG = DDPConfig(
    equal_sizes=(4, 4, 4),
    unequal_sizes=(2, 3, 7),
    in_features=3,
    width=8,
    out_features=2,
    seed=5,
    pg_timeout_s=20.0,
    uneven_batches=(1, 2, 3),
    uneven_batch_size=3,
    hang_timeout_s=1.0,
    join_lr=0.1,
    join_momentum=0.9,
)


def make_model(config: DDPConfig):
    """The seeded model every rank (and the single-process reference) starts from."""
    from support.models import mlp

    return mlp(config.in_features, config.width, config.out_features, depth=2, activation="tanh", seed=config.seed)


def global_batch(config: DDPConfig, sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch (float64 regression data) whose consecutive slices of ``sizes`` the ranks take."""
    from support.data import regression

    return regression(sum(sizes), config.in_features, config.out_features, seed=config.seed + 1)


def local_batch(config: DDPConfig, sizes: tuple[int, ...], rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s slice of the global batch."""
    _arguments.integer("rank", rank, at_least=0, below=len(sizes))
    x, y = global_batch(config, sizes)
    start = sum(sizes[:rank])
    return x[start : start + sizes[rank]], y[start : start + sizes[rank]]


def uneven_batch(config: DDPConfig, rank: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s ``k``-th batch in the uneven scenarios: consecutive slices of one seeded dataset."""
    counts = config.batch_counts
    _arguments.integer("rank", rank, at_least=0, below=len(counts))
    _arguments.integer(f"k (rank {rank}'s batch index; it has {counts[rank]})", k, at_least=0, below=counts[rank])
    from support.data import regression

    size = config.uneven_batch_size
    x, y = regression(sum(counts) * size, config.in_features, config.out_features, seed=config.seed + 2)
    start = (sum(counts[:rank]) + k) * size
    return x[start : start + size], y[start : start + size]


def check_loopback_env(env: dict[str, str]) -> None:
    """Refuse to run unless gloo is confined to the loopback interface."""
    if env.get("GLOO_SOCKET_IFNAME") != LOOPBACK_INTERFACE:
        raise SpecInputError(
            f"GLOO_SOCKET_IFNAME must be {LOOPBACK_INTERFACE!r} so that no traffic leaves loopback, "
            f"got {env.get('GLOO_SOCKET_IFNAME')!r}"
        )
    _arguments.one_of("MASTER_ADDR", env.get("MASTER_ADDR"), LOOPBACK_ADDRESSES)


def worker(rank: int, init_file: Path, out_dir: Path, config: DDPConfig) -> Path:
    """Run every scenario on this rank and write ``rank<r>.pt``; returns its path."""
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from support.gradients import flat_grad

    check_loopback_env(dict(os.environ))
    torch.set_num_threads(1)
    world = config.world_size
    dist.init_process_group(
        "gloo",
        init_method=f"file://{Path(init_file).resolve()}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=config.pg_timeout_s),
    )
    try:
        ddp = DDP(make_model(config))
        results: dict[str, torch.Tensor] = {}

        def run(name: str, x, y, scale: float = 1.0, *, zero: bool = True, sync: bool = True) -> None:
            if zero:
                ddp.zero_grad(set_to_none=True)
            if sync:
                (scale * F.mse_loss(ddp(x), y)).backward()
            else:
                with ddp.no_sync():
                    (scale * F.mse_loss(ddp(x), y)).backward()
            results[name] = flat_grad(ddp.module).detach().clone()

        x, y = local_batch(config, config.equal_sizes, rank)
        run("equal", x, y)
        run("no_sync", x, y, sync=False)
        half = config.equal_sizes[rank] // 2
        run("accumulate_first_half", x[:half], y[:half], 0.5, sync=False)
        run("accumulate", x[half:], y[half:], 0.5, zero=False)
        del results["accumulate_first_half"]
        xu, yu = local_batch(config, config.unequal_sizes, rank)
        run("unequal", xu, yu)
        n_global = sum(config.unequal_sizes)
        run("unequal_weighted", xu, yu, world * config.unequal_sizes[rank] / n_global)
        results.update(_uneven_scenarios(rank, config))
        out = Path(out_dir) / f"rank{rank}.pt"
        tmp = out.with_suffix(".tmp")
        torch.save(results, tmp)
        os.replace(tmp, out)  # atomic: a reader sees the whole file or none
        dist.barrier()  # nobody tears the group down while another rank still communicates
        return out
    finally:
        dist.destroy_process_group()


def _uneven_scenarios(rank: int, config: DDPConfig) -> dict:
    """The uneven-batches scenarios on this rank (see the module docstring); every rank calls them in this order."""
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from support.gradients import flat_grad, flat_params

    batches = [uneven_batch(config, rank, k) for k in range(config.batch_counts[rank])]
    results: dict = {}

    # without Join, on a group with a short timeout: the rank that runs out leaves the others waiting. Every step up
    # to the loop starts after a barrier of the main group (long timeout), so a rank that is merely scheduled late
    # cannot make the short group time out before the extra batch
    dist.barrier()
    short = dist.new_group(timeout=timedelta(seconds=config.hang_timeout_s))
    dist.barrier()
    ddp = DDP(make_model(config), process_group=short)
    dist.barrier()
    completed, error, waited = 0, "", 0.0
    for x, y in batches:
        start = time.monotonic()
        try:
            F.mse_loss(ddp(x), y).backward()
        except RuntimeError as exc:  # the all-reduce timed out: this rank is done with this group
            error, waited = str(exc), time.monotonic() - start
            break
        completed += 1
    results["uneven_hang"] = {"completed": completed, "error": error, "waited_s": waited}

    def train_joined(**join_kwargs) -> dict:
        model = make_model(config)
        ddp = DDP(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=config.join_lr, momentum=config.join_momentum)
        grads = []
        with ddp.join(**join_kwargs):
            for x, y in batches:
                opt.zero_grad(set_to_none=True)
                F.mse_loss(ddp(x), y).backward()
                grads.append(flat_grad(model).detach().clone())
                opt.step()
        return {"grads": grads, "params": flat_params(model)}

    results["join"] = train_joined()
    results["join_effective"] = train_joined(divide_by_initial_world_size=False)

    ddp = DDP(make_model(config))
    completed, error = 0, ""
    try:
        with ddp.join(throw_on_early_termination=True):
            for x, y in batches:
                F.mse_loss(ddp(x), y).backward()
                completed += 1
    except RuntimeError as exc:
        error = str(exc)
    results["join_throw"] = {"completed": completed, "error": error}
    return results


def _run_rank(rank: int, init_file: Path, out_dir: Path, config: DDPConfig) -> int:
    """Run one rank with its output in rank<r>.log; returns an exit code instead of raising."""
    log = os.open(Path(out_dir) / f"rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        worker(rank, init_file, out_dir, config)
        return 0
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def run_all_ranks(init_file: Path, out_dir: Path, config: DDPConfig) -> None:
    """Entry point of the spawned interpreter: import once, fork ranks 1..W-1, run rank 0 here, reap, _exit.

    Never returns: every process leaves with os._exit (0 when every rank succeeded).
    """
    import torch._dynamo
    import torch.distributed
    import torch.nn.parallel  # noqa: F401

    import support.data
    import support.models  # noqa: F401

    tasks = Path("/proc/self/task")
    if tasks.is_dir() and len(list(tasks.iterdir())) > 1:  # say so in the launcher log: forking a threaded process
        print(f"note: {len(list(tasks.iterdir()))} threads before fork", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, int] = {}
    for rank in range(1, config.world_size):
        pid = os.fork()
        if pid == 0:  # the child: run its rank and leave without interpreter finalisation
            os._exit(_run_rank(rank, init_file, out_dir, config))
        children[rank] = pid
    code = _run_rank(0, init_file, out_dir, config)
    deadline = time.monotonic() + config.pg_timeout_s + 10.0  # the children fail by the group's timeout
    for pid in children.values():
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = code or int(os.waitstatus_to_exitcode(status) != 0)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                code = 1
                break
            time.sleep(0.01)
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run every rank of the DDP experiment (see support.distributed).")
    parser.add_argument("--init-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default=DDPConfig().to_json(), help="DDPConfig as JSON")
    args = parser.parse_args(argv)
    run_all_ranks(args.init_file, args.out, DDPConfig.from_json(args.config))


if __name__ == "__main__":
    main()
