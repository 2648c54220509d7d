"""The torch runtime of a run: devices, threads, TF32, seeds, the header and the xdist relay.

* ``--device=auto|cpu|cuda|cpu,cuda`` parametrizes every test that takes ``device`` (auto: cpu, plus cuda when
  available). TF32 is off, so float32 matmuls are real float32 on GPUs too.
* ``--torch-threads=N`` / ``SPEC_TORCH_THREADS``: torch threads per process, serial or xdist worker (default 1).
* Every test starts with the global RNGs seeded from its node id (the same in every process).
* The controller of an xdist run imports no torch: its header names the installed torch, and the workers report
  what they ran with at the end.
"""

from __future__ import annotations

import importlib.metadata
import os
import random
import zlib
from dataclasses import dataclass

import pytest

from support.pytest_plugin._xdist import is_xdist_worker, runs_tests

# torch and numpy are imported where they are used: the controller of an xdist run runs no test and never needs
# them, and importing torch alone costs ~1 s there before any worker can start.
THREADS_ENV = "SPEC_TORCH_THREADS"
DEVICES = ("cpu", "cuda")


@dataclass
class RuntimeState:
    devices: list[str] | None  # None: an xdist controller with --device=auto (each worker decides)
    threads: int
    environment: dict | None  # torch version, device names, threads of the processes that run the tests


_state_key = pytest.StashKey[RuntimeState]()


def state(config: pytest.Config) -> RuntimeState:
    return config.stash[_state_key]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption(
        "--device",
        dest="spec_device",
        default="auto",
        help="devices to run device tests on: 'auto' (cpu, plus cuda when available) or a "
        "comma-separated list of cpu,cuda",
    )
    group.addoption(
        "--torch-threads",
        dest="spec_torch_threads",
        default=None,
        help=f"torch threads per process, serial or xdist worker (default 1; env {THREADS_ENV})",
    )


def _devices(option: str, runs: bool) -> list[str] | None:
    """The devices device tests run on; None in an xdist controller with 'auto' (each worker asks torch)."""
    if option == "auto":
        if not runs:
            return None
        import torch

        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    devices = [d.strip() for d in option.split(",") if d.strip()]
    unknown = [d for d in devices if d not in DEVICES]
    if not devices or unknown:
        raise pytest.UsageError(f"--device={option!r}: expected 'auto' or a comma-separated list of cpu,cuda")
    if len(set(devices)) != len(devices):
        raise pytest.UsageError(f"--device={option!r} names a device twice")
    if "cuda" in devices:  # checked before any worker starts, so the run stops once, with this message
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--device asks for cuda, but torch.cuda.is_available() is False on this machine")
    return devices


def _threads(config: pytest.Config, runs: bool) -> int:
    raw = config.getoption("spec_torch_threads") or os.environ.get(THREADS_ENV)
    # One thread by default, serial or not: xdist workers each using every core oversubscribe the machine
    # (measured up to 10x slower on 2 cores), and the same thread count in every process makes serial and
    # parallel runs compute bit-identical figures (parallel reductions may add in another order).
    n = 1
    if raw is not None:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise pytest.UsageError(f"--torch-threads / {THREADS_ENV} must be a positive integer, got {raw!r}")
    if not runs:
        return n
    import torch

    torch.set_num_threads(n)
    return torch.get_num_threads()


def _environment(devices: list[str]) -> dict:
    """What the tests of this process run with: torch version, device names, torch threads."""
    import torch

    return {
        "torch": str(torch.__version__),  # a plain str: the environment travels from xdist workers (execnet)
        "devices": [d if d == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})" for d in devices],
        "threads": torch.get_num_threads(),
    }


def pytest_configure(config: pytest.Config) -> None:
    runs = runs_tests(config)
    if runs:
        import torch

        # TF32 would make float32 matmuls on Ampere+ GPUs ~1e-3 accurate; the tolerance policy assumes real float32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
    devices = _devices(config.getoption("spec_device"), runs)
    threads = _threads(config, runs)
    config.stash[_state_key] = RuntimeState(
        devices=devices, threads=threads, environment=_environment(devices) if runs else None
    )


def environment(config: pytest.Config) -> dict:
    """torch version, device names and torch threads of the processes that ran the tests (under xdist: as the
    first worker to finish reported them)."""
    st = state(config)
    if st.environment is not None:
        return st.environment
    return {
        "torch": f"{importlib.metadata.version('torch')} (installed; no worker reported)",
        "devices": ["(no worker reported)"],
        "threads": st.threads,
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    if is_xdist_worker(session.config):  # tell the controller what the tests ran with
        session.config.workeroutput["spec_environment"] = state(session.config).environment


@pytest.hookimpl(optionalhook=True)  # an xdist hook, called in the controller as each worker ends
def pytest_testnodedown(node, error) -> None:
    st = state(node.config)
    reported = getattr(node, "workeroutput", {}).get("spec_environment")
    if reported and st.environment is None:
        st.environment = reported


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The torch and devices this run uses (the profile and the claims print their own lines)."""
    st = state(config)
    threads = str(st.threads)
    if st.environment is not None:
        torch_version, names = st.environment["torch"], ", ".join(st.environment["devices"])
    else:  # the controller of an xdist run: it has not imported torch
        torch_version = importlib.metadata.version("torch")
        names = "cpu, plus cuda where the workers find it" if st.devices is None else ", ".join(st.devices)
    if config.getoption("numprocesses", default=None):
        threads += " per xdist worker"
    return [f"torch {torch_version}; devices: {names}; torch threads: {threads}"]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    st = state(config)
    if not runs_tests(config) and st.environment is not None:  # the header could not say it
        env = st.environment
        terminalreporter.write_line(
            f"xdist workers ran with torch {env['torch']}; "
            f"devices: {', '.join(env['devices'])}; "
            f"torch threads: {env['threads']} per worker"
        )


# ---------------------------------------------------------------- device parameter and seeds
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        st = state(metafunc.config)
        if st.devices is None:  # an xdist controller that collects after all (--fixtures -n 2): ask torch now
            st.devices = _devices("auto", runs=True)
        metafunc.parametrize("device", st.devices)


def node_seed(nodeid: str) -> int:
    """A seed derived from the test's node id: the same in every process (unlike hash())."""
    return zlib.crc32(nodeid.encode("utf-8"))


@pytest.fixture(autouse=True)
def _seeded_rngs(request: pytest.FixtureRequest):
    import numpy as np

    from support.tensors import seed_global_rngs

    seed = node_seed(request.node.nodeid)
    seed_global_rngs(seed)  # torch.manual_seed, without its ~3 ms of stack formatting per call
    random.seed(seed)
    np.random.seed(seed)
    yield
