"""Helpers for the DistributedDataParallel experiment: a worker that records the gradients each rank holds in
a few scenarios (gloo backend on CPU, loopback only), and a launcher that starts the ranks, waits for them
with a deadline and reads back what they wrote.

How the ranks are started: the launcher spawns ONE fresh interpreter with ``subprocess`` (nothing is forked
from the caller, so it works the same inside pytest-xdist workers, and nothing is pickled). That
interpreter imports torch and everything DDP needs (DDP imports torch._dynamo, ~1.5 s of CPU), then forks
the other ranks *before* any process group, thread pool or tensor work exists (the same state torch's
DataLoader workers are forked from) and runs rank 0 itself. One import instead of one per rank halves
the CPU time (measured on a 2-core machine: ~2.5 s wall instead of ~8 s for two spawned interpreters).
Every rank leaves with ``os._exit`` once its result is written, skipping interpreter finalisation.

Why results in files: a rank that has written its (atomically renamed) result is done, whatever happens
after. gloo can abort while an interpreter exits, after the work is finished, so the caller judges the
written results and reports exit codes and logs only to explain a missing result.

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
By hand: ``python -m support.distributed --init-file F --out D``. ``launch_once`` runs a configuration once for all
the tests (and pytest-xdist workers) that ask for it; ``start_launch_once`` starts that run in a thread, so that the
ranks work (and the uneven scenarios wait out their timeout) while the caller does other work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import torch

from support import _checks
from support.errors import SpecInputError

LOOPBACK_INTERFACE = "lo"
LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost")
SCENARIOS = ("equal", "no_sync", "accumulate", "unequal", "unequal_weighted",
             "uneven_hang", "join", "join_effective", "join_throw")
EXIT_GRACE_S = 5.0  # how long the launcher may take to exit once every rank has written its result
LAUNCH_SUMMARY = "launch.json"  # the launcher's exit code, wall time and deadline flags, written after every launch
REPO_ROOT = Path(__file__).resolve().parent.parent


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
                _checks.positive_int(name, s)
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
            _checks.positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SpecInputError(f"seed must be an int, got {self.seed!r}")
        _checks.positive_float("pg_timeout_s", self.pg_timeout_s)
        if self.uneven_batches is not None:
            if not isinstance(self.uneven_batches, tuple) or len(self.uneven_batches) != len(self.equal_sizes):
                raise SpecInputError(
                    f"uneven_batches must be a tuple with one number of batches per rank, got {self.uneven_batches!r}"
                )
            for count in self.uneven_batches:
                _checks.positive_int("uneven_batches", count)
            if len(set(self.uneven_batches)) == 1:
                raise SpecInputError(f"uneven_batches must not all be equal, got {self.uneven_batches}")
        _checks.positive_int("uneven_batch_size", self.uneven_batch_size)
        _checks.positive_float("hang_timeout_s", self.hang_timeout_s)
        if not self.hang_timeout_s < self.pg_timeout_s:
            raise SpecInputError(
                f"hang_timeout_s must be below pg_timeout_s (the others wait in the main group meanwhile), got "
                f"{self.hang_timeout_s} and {self.pg_timeout_s}"
            )
        _checks.positive_float("join_lr", self.join_lr)
        _checks.positive_float("join_momentum", self.join_momentum, allow_zero=True)

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


# The run the spec's DDP claims share (distributed.ddp-mean and distributed.uneven; launch_once runs it once a
# session): three ranks, so that dividing by W is told apart from halving; unequal local batch sizes (2, 3, 7); and
# 1, 2, 3 batches per rank for the uneven scenarios, whose waiting group times out after 1 s
SPEC_CONFIG = DDPConfig(equal_sizes=(4, 4, 4), unequal_sizes=(2, 3, 7), in_features=3, width=8, out_features=2, seed=5,
                        pg_timeout_s=20.0, uneven_batches=(1, 2, 3), uneven_batch_size=3, hang_timeout_s=1.0,
                        join_lr=0.1, join_momentum=0.9)


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
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < len(sizes):
        raise SpecInputError(f"rank must be an int in [0, {len(sizes)}), got {rank!r}")
    x, y = global_batch(config, sizes)
    start = sum(sizes[:rank])
    return x[start : start + sizes[rank]], y[start : start + sizes[rank]]


def uneven_batch(config: DDPConfig, rank: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s ``k``-th batch in the uneven scenarios: consecutive slices of one seeded dataset."""
    counts = config.batch_counts
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < len(counts):
        raise SpecInputError(f"rank must be an int in [0, {len(counts)}), got {rank!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < counts[rank]:
        raise SpecInputError(f"k must be an int in [0, {counts[rank]}), rank {rank}'s number of batches, got {k!r}")
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
    if env.get("MASTER_ADDR") not in LOOPBACK_ADDRESSES:
        raise SpecInputError(f"MASTER_ADDR must be one of {LOOPBACK_ADDRESSES}, got {env.get('MASTER_ADDR')!r}")


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


@dataclass
class LaunchResult:
    """What each rank wrote (None where it wrote nothing), the launcher's exit code, each rank's log."""

    results: list[dict | None]
    returncode: int | None  # of the spawned interpreter: 0 when every rank succeeded
    logs: list[str]
    wall_s: float
    timed_out: bool = False
    missing: list[int] = field(default_factory=list)
    stopped_after_results: bool = False  # every rank had written its result; the launcher did not exit in time
    stopped: bool = False  # the caller stopped the run early (BackgroundLaunch.stop)

    def diagnostics(self) -> str:
        parts = [f"ranks without a result: {self.missing}; launcher exit code {self.returncode}; "
                 f"timed out: {self.timed_out}; "
                 f"killed {EXIT_GRACE_S:g} s after every result was written: {self.stopped_after_results}; "
                 f"stopped early by the caller: {self.stopped}"]
        for r, log in enumerate(self.logs):
            parts.append(f"--- rank {r} log (last 3000 chars) ---\n{log[-3000:]}")
        return "\n".join(parts)


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


def launch(config: DDPConfig, workdir: Path, *, env: dict[str, str], timeout_s: float = 60.0) -> LaunchResult:
    """Spawn the ranks (one fresh interpreter that forks the others), wait at most ``timeout_s``, read the results.

    ``env`` must confine gloo to loopback (GLOO_SOCKET_IFNAME=lo, MASTER_ADDR=127.0.0.1); it is added to a
    copy of this process's environment. ``workdir`` must be an empty or missing directory: it receives the
    file:// rendezvous file, the results and the logs. At the deadline, or ``EXIT_GRACE_S`` after every rank
    has written its result, the ranks still running are killed (they run in a session of their own, killed
    as a group).
    """
    _check_launch_args(config, env, timeout_s)
    return _read_back(config, Path(workdir), _run_ranks(config, Path(workdir), env, timeout_s))


def _check_launch_args(config: DDPConfig, env: dict[str, str], timeout_s: float) -> None:
    if not isinstance(config, DDPConfig):
        raise SpecInputError(f"config must be a DDPConfig, got {type(config).__name__}")
    if not isinstance(env, dict):
        raise SpecInputError(f"env must be a dict of environment variables, got {type(env).__name__}")
    check_loopback_env(env)
    _checks.positive_float("timeout_s", timeout_s)
    if not hasattr(os, "fork"):
        raise SpecInputError("launch needs os.fork (Linux or macOS): the spawned interpreter forks the other ranks")


def _run_ranks(config: DDPConfig, workdir: Path, env: dict[str, str], timeout_s: float,
               stop: threading.Event | None = None) -> dict:
    """The work of ``launch`` up to the read-back: run the ranks in ``workdir``, write and return the outcome.
    ``stop`` set kills the ranks early (the outcome then says ``stopped``)."""
    if workdir.exists() and any(workdir.iterdir()):
        raise SpecInputError(f"workdir {workdir} must be empty: a stale rendezvous file would join an old group")
    workdir.mkdir(parents=True, exist_ok=True)
    init_file = workdir / "rendezvous"
    # one thread per library pool: the interpreter is then single-threaded when it forks (numpy's OpenBLAS would
    # otherwise start an idle worker thread at import)
    child_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    start = time.monotonic()
    with open(workdir / "launcher.log", "w+b") as launcher_log:
        proc = subprocess.Popen(
            _launcher_command(init_file, workdir, config),
            cwd=REPO_ROOT, env=child_env, stdout=launcher_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the deadline kills the forked ranks too
        )
        timed_out = stopped_after_results = stopped = False
        results_at = None
        result_files = [workdir / f"rank{r}.pt" for r in range(config.world_size)]
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now - start > timeout_s:
                    timed_out = True
                    break
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                if results_at is None and all(f.exists() for f in result_files):
                    results_at = now
                # every rank has written its result: the work is done, whatever the exit does; a rank stuck in
                # gloo's teardown would otherwise hold the caller until the deadline
                if results_at is not None and now - results_at > EXIT_GRACE_S:
                    stopped_after_results = True
                    break
                time.sleep(0.01)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # no-op for ranks already gone; reaps stragglers
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    outcome = {"returncode": proc.returncode, "wall_s": time.monotonic() - start, "timed_out": timed_out,
               "stopped_after_results": stopped_after_results, "stopped": stopped}
    (workdir / LAUNCH_SUMMARY).write_text(json.dumps(outcome))
    return outcome


def _read_back(config: DDPConfig, workdir: Path, outcome: dict) -> LaunchResult:
    """What the ranks of a finished launch wrote in ``workdir``, with the launch's ``outcome``."""
    launcher_log = workdir / "launcher.log"
    launcher_output = launcher_log.read_text(encoding="utf-8", errors="replace") if launcher_log.exists() else ""
    results: list[dict | None] = []
    logs = []
    for rank in range(config.world_size):
        path = workdir / f"rank{rank}.pt"
        results.append(torch.load(path, weights_only=True) if path.exists() else None)
        log = workdir / f"rank{rank}.log"
        logs.append(log.read_text(encoding="utf-8", errors="replace") if log.exists() else "(no log)")
    logs[0] = f"{launcher_output}\n{logs[0]}" if launcher_output else logs[0]
    missing = [r for r, res in enumerate(results) if res is None]
    return LaunchResult(results, outcome["returncode"], logs, outcome["wall_s"], outcome["timed_out"], missing,
                        outcome["stopped_after_results"], outcome.get("stopped", False))


def launch_once(config: DDPConfig, root: Path, *, env: dict[str, str], timeout_s: float = 60.0) -> LaunchResult:
    """``launch`` a configuration once under ``root``, and read that run back on every later call.

    Calls from several processes (pytest-xdist workers sharing ``root``) take turns through a lock file: the first
    launches (at most ``timeout_s`` plus the exit grace), the others wait for it and read what it left, failures
    included, so one set of ranks serves every test that asks for this configuration. ``root`` must hold no run of an
    earlier session: pass a directory of this session (e.g. pytest's basetemp).
    """
    return _once(config, root, env, timeout_s, read_back=True)


def _once(config: DDPConfig, root: Path, env: dict[str, str], timeout_s: float, *, read_back: bool,
          stop: threading.Event | None = None) -> LaunchResult | None:
    """launch_once's work; without ``read_back`` it only makes sure the run exists (and returns None)."""
    _check_launch_args(config, env, timeout_s)
    import fcntl  # POSIX, as os.fork, which launch needs anyway

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(config.to_json().encode()).hexdigest()[:16]
    workdir = root / f"ddp-{key}"
    # a lock per open file: it also makes a second thread of this process wait (flock(2))
    with open(root / f"ddp-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when this process dies
        summary = workdir / LAUNCH_SUMMARY
        if summary.exists():
            outcome = json.loads(summary.read_text())
        else:
            outcome = _run_ranks(config, workdir, env, timeout_s, stop)
        return _read_back(config, workdir, outcome) if read_back else None


class BackgroundLaunch:
    """``launch_once`` started in a thread of this process (see ``start_launch_once``).

    ``result()`` waits for the run and reads it back (what ``launch_once`` returns); ``wait()`` only waits for the
    thread; ``stop()`` kills the ranks of a run this thread started and waits for the thread. A failure of the thread
    (e.g. an unwritable ``root``) is raised by ``result()``.
    """

    def __init__(self, config: DDPConfig, root: Path, env: dict[str, str], timeout_s: float) -> None:
        _check_launch_args(config, env, timeout_s)
        self._args = (config, Path(root), env, timeout_s)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="ddp-launch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            _once(*self._args, read_back=False, stop=self._stop)
        except BaseException as exc:  # handed to result(), in the caller's thread
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> LaunchResult:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return launch_once(self._args[0], self._args[1], env=self._args[2], timeout_s=self._args[3])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_launch_once(config: DDPConfig, root: Path, *, env: dict[str, str],
                      timeout_s: float = 60.0) -> BackgroundLaunch:
    """Start ``launch_once(config, root, ...)`` in a thread and return at once; ``.result()`` is that call's result.

    The thread runs no torch code: it waits for the lock, spawns the ranks and polls for their result files (or finds
    the run another process made); reading the results back happens in ``result()``.
    """
    return BackgroundLaunch(config, root, env, timeout_s)


def _launcher_command(init_file: Path, workdir: Path, config: DDPConfig) -> list[str]:
    """The spawned interpreter's argv (tests replace it to play a rank that never exits)."""
    # the garbage collector off before torch imports: this short-lived interpreter leaves with os._exit, and
    # full collections walking torch's objects while torch._dynamo imports cost ~0.3 s of CPU
    return [sys.executable, "-c", "import gc; gc.disable(); from support.distributed import main; main()",
            "--init-file", str(init_file), "--out", str(workdir), "--config", config.to_json()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run every rank of the DDP experiment (see support.distributed).")
    parser.add_argument("--init-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default=DDPConfig().to_json(), help="DDPConfig as JSON")
    args = parser.parse_args(argv)
    run_all_ranks(args.init_file, args.out, DDPConfig.from_json(args.config))


if __name__ == "__main__":
    main()
