"""Starting the ranks of the DistributedDataParallel experiment (support.distributed), waiting for them with a
deadline and reading back what they wrote.

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

``launch_once`` runs a configuration once for all the tests (and pytest-xdist workers) that ask for it;
``start_launch_once`` starts that run in a thread, so that the ranks work (and the uneven scenarios wait out their
timeout) while the caller does other work.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from support import _arguments
from support.distributed import DDPConfig, check_loopback_env
from support.errors import SpecInputError

EXIT_GRACE_S = 5.0  # how long the launcher may take to exit once every rank has written its result
LAUNCH_SUMMARY = "launch.json"  # the launcher's exit code, wall time and deadline flags, written after every launch
LAUNCHER_ID = "launcher.pid"  # the launcher's pid and start time, written as it starts: a later process can stop it
REPO_ROOT = Path(__file__).resolve().parent.parent


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
        parts = [
            f"ranks without a result: {self.missing}; launcher exit code {self.returncode}; "
            f"timed out: {self.timed_out}; "
            f"killed {EXIT_GRACE_S:g} s after every result was written: {self.stopped_after_results}; "
            f"stopped early by the caller: {self.stopped}"
        ]
        for r, log in enumerate(self.logs):
            parts.append(f"--- rank {r} log (last 3000 chars) ---\n{log[-3000:]}")
        return "\n".join(parts)


def unavailable_reason() -> str | None:
    """Why the ranks cannot run on this machine (a skip reason), or None where they can: they need torch built with
    distributed and gloo, and ``os.fork`` (the launcher's interpreter forks the other ranks)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        return "torch built without gloo"
    if not hasattr(os, "fork"):
        return "the launcher's interpreter forks the other ranks (no os.fork here)"
    return None


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
    _arguments.positive_float("timeout_s", timeout_s)
    reason = unavailable_reason()
    if reason is not None:
        raise SpecInputError(f"the ranks cannot run here: {reason}")


def _run_ranks(
    config: DDPConfig,
    workdir: Path,
    env: dict[str, str],
    timeout_s: float,
    stop: threading.Event | None = None,
    on_spawn=None,
) -> dict:
    """The work of ``launch`` up to the read-back: run the ranks in ``workdir``, write and return the outcome.
    ``stop`` set kills the ranks early (the outcome then says ``stopped``); ``on_spawn(pid)`` is told the launcher's
    pid as soon as it runs."""
    if workdir.exists() and any(workdir.iterdir()):
        raise SpecInputError(f"workdir {workdir} must be empty: a stale rendezvous file would join an old group")
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(workdir / "launcher.log", "w+b") as launcher_log:
        proc = _spawn(config, workdir, env, launcher_log)
        (workdir / LAUNCHER_ID).write_text(json.dumps({"pid": proc.pid, "started": _start_time(proc.pid)}))
        if on_spawn is not None:
            on_spawn(proc.pid)
        try:
            flags = _watch(proc, [workdir / f"rank{r}.pt" for r in range(config.world_size)], start, timeout_s, stop)
        finally:
            kill_group(proc.pid)  # no-op for ranks already gone; reaps stragglers
            proc.wait(timeout=10)
    outcome = {"returncode": proc.returncode, "wall_s": time.monotonic() - start, **flags}
    (workdir / LAUNCH_SUMMARY).write_text(json.dumps(outcome))
    return outcome


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc; None elsewhere): with the pid it names one
    process, where a pid alone may have been reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def kill_group(pid: int) -> None:
    """Kill the launcher ``pid`` and its ranks (its session's process group); nothing if they are gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _set_aside_abandoned(workdir: Path) -> None:
    """A run whose launching process died before the run ended (a crashed pytest-xdist worker): stop its ranks if
    they still run, and move its directory aside (``<workdir>.abandoned-<n>``, kept for its logs) so that the run can
    start again."""
    try:
        launcher = json.loads((workdir / LAUNCHER_ID).read_text())
    except (OSError, ValueError):
        launcher = None
    if launcher and launcher.get("started") is not None and _start_time(launcher["pid"]) == launcher["started"]:
        kill_group(launcher["pid"])
    n = 1
    while workdir.with_name(f"{workdir.name}.abandoned-{n}").exists():
        n += 1
    workdir.rename(workdir.with_name(f"{workdir.name}.abandoned-{n}"))


def _spawn(config: DDPConfig, workdir: Path, env: dict[str, str], log) -> subprocess.Popen:
    """Start the launcher's interpreter in a session of its own (the deadline kills the forked ranks too)."""
    # one thread per library pool: the interpreter is then single-threaded when it forks (numpy's OpenBLAS would
    # otherwise start an idle worker thread at import)
    child_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        _launcher_command(workdir / "rendezvous", workdir, config),
        cwd=REPO_ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _watch(
    proc: subprocess.Popen, result_files: list[Path], start: float, timeout_s: float, stop: threading.Event | None
) -> dict:
    """Poll until the launcher exits, the deadline passes, the caller stops the run, or every rank has written its
    result and ``EXIT_GRACE_S`` has passed since; returns which of these ended the wait (the outcome's flags)."""
    flags = {"timed_out": False, "stopped_after_results": False, "stopped": False}
    results_at = None
    while proc.poll() is None:
        now = time.monotonic()
        if now - start > timeout_s:
            flags["timed_out"] = True
            break
        if stop is not None and stop.is_set():
            flags["stopped"] = True
            break
        if results_at is None and all(f.exists() for f in result_files):
            results_at = now
        # every rank has written its result: the work is done, whatever the exit does; a rank stuck in gloo's
        # teardown would otherwise hold the caller until the deadline
        if results_at is not None and now - results_at > EXIT_GRACE_S:
            flags["stopped_after_results"] = True
            break
        time.sleep(0.01)
    return flags


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
    return LaunchResult(
        results,
        outcome["returncode"],
        logs,
        outcome["wall_s"],
        outcome["timed_out"],
        missing,
        outcome["stopped_after_results"],
        outcome.get("stopped", False),
    )


def run_dir(config: DDPConfig, root: Path) -> Path:
    """Where ``launch_once(config, root, ...)`` runs the ranks: one directory per configuration."""
    return Path(root) / f"ddp-{hashlib.sha256(config.to_json().encode()).hexdigest()[:16]}"


def launch_once(config: DDPConfig, root: Path, *, env: dict[str, str], timeout_s: float = 60.0) -> LaunchResult:
    """``launch`` a configuration once under ``root``, and read that run back on every later call.

    Calls from several processes (pytest-xdist workers sharing ``root``) take turns through a lock file: the first
    launches (at most ``timeout_s`` plus the exit grace), the others wait for it and read what it left, failures
    included, so one set of ranks serves every test that asks for this configuration. ``root`` must hold no run of an
    earlier session: pass a directory of this session (e.g. pytest's basetemp).
    """
    return _once(config, root, env, timeout_s, read_back=True)


def _once(
    config: DDPConfig,
    root: Path,
    env: dict[str, str],
    timeout_s: float,
    *,
    read_back: bool,
    stop: threading.Event | None = None,
    on_spawn=None,
) -> LaunchResult | None:
    """launch_once's work; without ``read_back`` it only makes sure the run exists (and returns None)."""
    _check_launch_args(config, env, timeout_s)
    import fcntl  # POSIX, as os.fork, which launch needs anyway

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    workdir = run_dir(config, root)
    # a lock per open file: it also makes a second thread of this process wait (flock(2))
    with open(workdir.with_name(f"{workdir.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when this process dies
        summary = workdir / LAUNCH_SUMMARY
        if summary.exists():
            outcome = json.loads(summary.read_text())
        else:
            if workdir.exists() and any(workdir.iterdir()):  # the lock's last holder died during its run
                _set_aside_abandoned(workdir)
            outcome = _run_ranks(config, workdir, env, timeout_s, stop, on_spawn)
        return _read_back(config, workdir, outcome) if read_back else None


class BackgroundLaunch:
    """``launch_once`` started in a thread of this process (see ``start_launch_once``).

    ``result()`` waits for the run and reads it back (what ``launch_once`` returns); ``wait()`` only waits for the
    thread; ``stop()`` kills the ranks of a run this thread started, itself (a Ctrl-C may have ended the wait for the
    thread without the thread getting to kill them), and waits a bounded time for the thread. A failure of the thread
    (e.g. an unwritable ``root``) is raised by ``result()``.

    Waits are on an event the thread sets when it ends, not on ``Thread.join``: a join interrupted by
    KeyboardInterrupt marks the thread as ended on CPython 3.11, and a later join then returns at once.
    """

    def __init__(self, config: DDPConfig, root: Path, env: dict[str, str], timeout_s: float) -> None:
        _check_launch_args(config, env, timeout_s)
        self._args = (config, Path(root), env, timeout_s)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._pid: int | None = None  # the launcher this thread spawned, once it runs
        self._error: BaseException | None = None
        threading.Thread(target=self._work, name="ddp-launch", daemon=True).start()

    def _work(self) -> None:
        try:
            _once(*self._args, read_back=False, stop=self._stop, on_spawn=self._spawned)
        except BaseException as exc:  # handed to result(), in the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def _spawned(self, pid: int) -> None:
        self._pid = pid
        if self._stop.is_set():  # stop() came while the launcher was starting
            kill_group(pid)

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> LaunchResult:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return launch_once(self._args[0], self._args[1], env=self._args[2], timeout_s=self._args[3])

    def stop(self) -> None:
        self._stop.set()
        if self._pid is not None:
            kill_group(self._pid)
        self._done.wait(timeout=EXIT_GRACE_S + 10.0)  # the thread reaps the launcher and writes the outcome


def start_launch_once(
    config: DDPConfig, root: Path, *, env: dict[str, str], timeout_s: float = 60.0
) -> BackgroundLaunch:
    """Start ``launch_once(config, root, ...)`` in a thread and return at once; ``.result()`` is that call's result.

    The thread runs no torch code: it waits for the lock, spawns the ranks and polls for their result files (or finds
    the run another process made); reading the results back happens in ``result()``.
    """
    return BackgroundLaunch(config, root, env, timeout_s)


def _launcher_command(init_file: Path, workdir: Path, config: DDPConfig) -> list[str]:
    """The spawned interpreter's argv (tests replace it to play a rank that never exits)."""
    # the garbage collector off before torch imports: this short-lived interpreter leaves with os._exit, and
    # full collections walking torch's objects while torch._dynamo imports cost ~0.3 s of CPU
    return [
        sys.executable,
        "-c",
        "import gc; gc.disable(); from support.distributed import main; main()",
        "--init-file",
        str(init_file),
        "--out",
        str(workdir),
        "--config",
        config.to_json(),
    ]
