"""Tests of support.distributed and support.ddp_launch that need no process group: the config's and the
launcher's argument checks, the data split, the loopback guard, and the launcher's deadline (a run killed before it
can finish reports what is missing instead of hanging)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from support import ddp_launch, distributed
from support.distributed import DDPConfig
from support.errors import SpecInputError

LOOPBACK = {"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}
ROOT = Path(__file__).resolve().parent.parent
UNAVAILABLE = ddp_launch.unavailable_reason()
needs_ranks = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))


def test_config_round_trips_through_json():
    config = DDPConfig(equal_sizes=(2, 2, 2), unequal_sizes=(1, 2, 3), seed=9, pg_timeout_s=5.0)
    assert DDPConfig.from_json(config.to_json()) == config
    assert config.world_size == 3
    assert config.batch_counts == (1, 2, 3)  # the default: rank r has r + 1 batches
    uneven = DDPConfig(uneven_batches=(4, 2), hang_timeout_s=0.5, join_momentum=0.0)
    assert DDPConfig.from_json(uneven.to_json()) == uneven
    assert uneven.batch_counts == (4, 2)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"equal_sizes": (4,)}, "equal_sizes"),
        ({"equal_sizes": [4, 4]}, "equal_sizes"),
        ({"equal_sizes": (4, 2)}, "all be equal"),
        ({"equal_sizes": (3, 3)}, "even"),
        ({"equal_sizes": (0, 0)}, "equal_sizes"),
        ({"unequal_sizes": (2, 6, 1)}, "one entry per rank"),
        ({"unequal_sizes": (2, -1)}, "unequal_sizes"),
        ({"width": 0}, "width"),
        ({"seed": 1.5}, "seed"),
        ({"pg_timeout_s": 0}, "pg_timeout_s"),
        ({"uneven_batches": (1, 2, 3)}, "one number of batches per rank"),
        ({"uneven_batches": [1, 2]}, "uneven_batches"),
        ({"uneven_batches": (2, 2)}, "not all be equal"),
        ({"uneven_batches": (0, 2)}, "uneven_batches"),
        ({"uneven_batch_size": 0}, "uneven_batch_size"),
        ({"hang_timeout_s": 0}, "hang_timeout_s"),
        ({"hang_timeout_s": 30.0}, "below pg_timeout_s"),
        ({"join_lr": -0.1}, "join_lr"),
    ],
)
def test_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(SpecInputError, match=fragment):
        DDPConfig(**kwargs)


def test_local_batches_are_consecutive_slices_of_the_global_batch():
    config = DDPConfig(unequal_sizes=(2, 6))
    x, y = distributed.global_batch(config, config.unequal_sizes)
    x0, y0 = distributed.local_batch(config, config.unequal_sizes, 0)
    x1, y1 = distributed.local_batch(config, config.unequal_sizes, 1)
    assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    assert (len(x0), len(x1)) == (2, 6)
    with pytest.raises(SpecInputError, match="rank"):
        distributed.local_batch(config, config.unequal_sizes, 2)


def test_uneven_batches_are_consecutive_slices_of_one_dataset():
    config = DDPConfig(uneven_batches=(1, 3), uneven_batch_size=2)
    batches = [distributed.uneven_batch(config, r, k) for r in range(2) for k in range(config.batch_counts[r])]
    x = torch.cat([b[0] for b in batches])
    assert x.shape == (8, config.in_features) and len({tuple(row.tolist()) for row in x}) == 8  # no sample twice
    assert torch.equal(distributed.uneven_batch(config, 1, 0)[0], x[2:4])
    with pytest.raises(SpecInputError, match=r"k \(rank 0's batch index; it has 1\) must be an int in \[0, 1\)"):
        distributed.uneven_batch(config, 0, 1)
    with pytest.raises(SpecInputError, match="rank"):
        distributed.uneven_batch(config, 2, 0)


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"MASTER_ADDR": "127.0.0.1"}, "GLOO_SOCKET_IFNAME"),
        ({"GLOO_SOCKET_IFNAME": "eth0", "MASTER_ADDR": "127.0.0.1"}, "GLOO_SOCKET_IFNAME"),
        ({"GLOO_SOCKET_IFNAME": "lo"}, "MASTER_ADDR"),
        ({"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "10.0.0.1"}, "MASTER_ADDR"),
    ],
)
def test_loopback_guard_refuses_other_interfaces(env, fragment):
    with pytest.raises(SpecInputError, match=fragment):
        distributed.check_loopback_env(env)


def test_launch_checks_its_arguments_before_starting_anything(tmp_path):
    with pytest.raises(SpecInputError, match="config"):
        ddp_launch.launch({"equal_sizes": (4, 4)}, tmp_path / "a", env=LOOPBACK)
    with pytest.raises(SpecInputError, match="env"):
        ddp_launch.launch(DDPConfig(), tmp_path / "a", env=[("GLOO_SOCKET_IFNAME", "lo")])
    with pytest.raises(SpecInputError, match="GLOO_SOCKET_IFNAME"):
        ddp_launch.launch(DDPConfig(), tmp_path / "a", env={"MASTER_ADDR": "127.0.0.1"})
    with pytest.raises(SpecInputError, match="timeout_s"):
        ddp_launch.launch(DDPConfig(), tmp_path / "a", env=LOOPBACK, timeout_s=0)
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "rendezvous").write_text("old")
    with pytest.raises(SpecInputError, match="must be empty"):
        ddp_launch.launch(DDPConfig(), stale, env=LOOPBACK)
    assert not (tmp_path / "a").exists()  # nothing was started or created


@pytest.mark.parametrize(
    ("missing", "fragment"),
    [("gloo", "torch built without gloo"), ("distributed", "torch built without gloo"), ("fork", "no os.fork")],
)
def test_where_the_ranks_cannot_run_the_reason_says_why_and_launch_refuses(tmp_path, monkeypatch, missing, fragment):
    import torch.distributed as dist

    if missing == "fork":
        monkeypatch.delattr(os, "fork", raising=False)
    else:
        monkeypatch.setattr(dist, "is_gloo_available" if missing == "gloo" else "is_available", lambda: False)
    reason = ddp_launch.unavailable_reason()
    assert reason is not None and fragment in reason
    with pytest.raises(SpecInputError, match=f"cannot run here: .*{re.escape(fragment)}"):
        ddp_launch.launch(DDPConfig(), tmp_path / "a", env=LOOPBACK)
    assert not (tmp_path / "a").exists()


@needs_ranks
def test_launch_kills_the_ranks_at_the_deadline_and_reports_them_missing(tmp_path):
    # 0.3 s is far less than importing torch takes, so no rank can have written a result
    run = ddp_launch.launch(DDPConfig(), tmp_path / "run", env=LOOPBACK, timeout_s=0.3)
    assert run.timed_out
    assert run.missing == [0, 1] and run.results == [None, None]
    assert run.wall_s < 15  # the kill is prompt, not a wait for the ranks
    assert "ranks without a result: [0, 1]" in run.diagnostics()


def _stand_in_launcher(monkeypatch, script):
    """The launcher's interpreter replaced by ``python -c script OUT_DIR`` (the script names OUT_DIR ``out``)."""
    monkeypatch.setattr(
        ddp_launch,
        "_launcher_command",
        lambda init_file, workdir, config: [
            sys.executable,
            "-c",
            "import shutil, sys, time; out = sys.argv[1]\n" + script,
            str(workdir),
        ],
    )


def _copying_results(tmp_path, results) -> str:
    """Script lines that write each rank's result as a rank would, as copies of files saved here: a stand-in that
    imports no torch starts in ~0.05 s instead of ~1.5 s."""
    lines = []
    for r, res in enumerate(results):
        torch.save(res, tmp_path / f"result{r}.pt")
        lines.append(f"shutil.copy({str(tmp_path / f'result{r}.pt')!r}, f'{{out}}/rank{r}.pt')\n")
    return "".join(lines)


@needs_ranks
def test_launch_stops_waiting_once_every_rank_has_written_its_result(tmp_path, monkeypatch):
    # a stand-in launcher: writes both results at once, then hangs as a rank stuck in gloo's teardown would
    _stand_in_launcher(monkeypatch, _copying_results(tmp_path, [{"equal": torch.zeros(1)}] * 2) + "time.sleep(120)\n")
    monkeypatch.setattr(ddp_launch, "EXIT_GRACE_S", 0.5)  # the default 5 s would only slow the test
    run = ddp_launch.launch(DDPConfig(), tmp_path / "run", env=LOOPBACK, timeout_s=60)
    assert run.stopped_after_results and not run.timed_out and not run.missing
    assert run.wall_s < ddp_launch.EXIT_GRACE_S + 10  # the grace, not the 60 s deadline
    assert run.results[0]["equal"].shape == (1,)


@needs_ranks
def test_launch_once_launches_once_and_reads_the_run_back(tmp_path, monkeypatch):
    # a stand-in launcher that writes both results and counts its launches
    _stand_in_launcher(
        monkeypatch,
        "open(f'{out}/../launches', 'a').write('x')\n"
        + _copying_results(tmp_path, [{"equal": torch.full((1,), float(r))} for r in range(2)]),
    )
    first = ddp_launch.launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    second = ddp_launch.launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    assert (tmp_path / "root" / "launches").read_text() == "x"  # the second call read the first run back
    assert not first.missing and not second.missing and second.returncode == first.returncode == 0
    assert [r["equal"].item() for r in second.results] == [0.0, 1.0]
    assert second.wall_s == first.wall_s
    # another configuration is another run
    ddp_launch.launch_once(DDPConfig(seed=1), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    assert (tmp_path / "root" / "launches").read_text() == "xx"
    with pytest.raises(SpecInputError, match="config"):
        ddp_launch.launch_once({"seed": 1}, tmp_path / "root", env=LOOPBACK)


@needs_ranks
def test_a_background_launch_and_a_launch_once_in_the_same_process_share_one_run(tmp_path, monkeypatch):
    # a stand-in launcher that counts its launches and takes a while, so that launch_once asks while it runs
    _stand_in_launcher(
        monkeypatch,
        "open(f'{out}/../launches', 'a').write('x')\ntime.sleep(0.5)\n"
        + _copying_results(tmp_path, [{"equal": torch.full((1,), float(r))} for r in range(2)]),
    )
    background = ddp_launch.start_launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    direct = ddp_launch.launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)  # waits for it
    run = background.result()
    assert (tmp_path / "root" / "launches").read_text() == "x"
    assert not run.missing and not direct.missing and run.returncode == direct.returncode == 0
    assert run.results[1]["equal"].item() == direct.results[1]["equal"].item() == 1.0


@needs_ranks
def test_stopping_a_background_launch_kills_its_ranks_promptly(tmp_path, monkeypatch):
    _stand_in_launcher(monkeypatch, "time.sleep(120)\n")  # a rank that never finishes
    background = ddp_launch.start_launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    started = time.monotonic()
    background.stop()
    assert time.monotonic() - started < 15  # not the 60 s deadline
    run = background.result()  # the stopped run, read back
    assert run.stopped and not run.timed_out and run.missing == [0, 1]
    assert "stopped early by the caller: True" in run.diagnostics()


def test_a_failure_of_the_background_launch_is_raised_by_result(tmp_path):
    (tmp_path / "root").write_text("a file where the run's directory should go")
    background = ddp_launch.start_launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    background.wait()
    with pytest.raises(FileExistsError):
        background.result()
    with pytest.raises(SpecInputError, match="GLOO_SOCKET_IFNAME"):  # bad arguments are refused before any thread
        ddp_launch.start_launch_once(DDPConfig(), tmp_path / "other", env={"MASTER_ADDR": "127.0.0.1"})


@pytest.mark.parametrize("args", [["--co"], ["--setup-plan"], ["-k", "no_test_has_this_name"]])
def test_a_session_that_runs_no_distributed_test_starts_no_ranks(tmp_path, args):
    # spec/part5's conftest starts the ranks at the end of collection only when a selected test will run and read them
    basetemp = tmp_path / "basetemp"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "spec/part5_beyond_the_source/test_distributed_ddp_mean.py", *args]
        + ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", f"--basetemp={basetemp}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 5), proc.stdout[-2000:] + proc.stderr[-2000:]  # 5: -k selected nothing
    assert not (basetemp / "ddp").exists(), sorted(p.name for p in (basetemp / "ddp").iterdir())


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="a launcher is told from a reused pid by /proc")
def test_a_run_whose_launching_process_died_is_stopped_set_aside_and_run_again(tmp_path, monkeypatch):
    # what a pytest-xdist worker killed during the run leaves: its launcher still running in a session of its own,
    # a rendezvous file, no outcome
    config, root = DDPConfig(), tmp_path / "root"
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    workdir = ddp_launch.run_dir(config, root)
    workdir.mkdir(parents=True)
    (workdir / "rendezvous").write_text("old")
    (workdir / ddp_launch.LAUNCHER_ID).write_text(
        json.dumps({"pid": old.pid, "started": ddp_launch._start_time(old.pid)})
    )
    _stand_in_launcher(monkeypatch, _copying_results(tmp_path, [{"equal": torch.zeros(1)}] * 2))
    run = ddp_launch.launch_once(config, root, env=LOOPBACK, timeout_s=60)
    assert not run.missing and run.returncode == 0  # the run made again
    assert old.wait(timeout=10) == -signal.SIGKILL  # the abandoned launcher was stopped
    assert (workdir.with_name(f"{workdir.name}.abandoned-1") / "rendezvous").read_text() == "old"  # kept for its logs


@needs_ranks
def test_stop_kills_the_launcher_itself_not_only_through_the_thread(tmp_path, monkeypatch):
    # a Ctrl-C may end the wait for the thread before it kills the ranks; stop() then kills them by the launcher's pid
    _stand_in_launcher(monkeypatch, "time.sleep(120)\n")
    background = ddp_launch.start_launch_once(DDPConfig(), tmp_path / "root", env=LOOPBACK, timeout_s=60)
    deadline = time.monotonic() + 15
    while background._pid is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = background._pid
    assert pid is not None
    background._stop.set = lambda: None  # the thread never learns of the stop: only the direct kill can end the run
    background.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the launcher's process group is gone
