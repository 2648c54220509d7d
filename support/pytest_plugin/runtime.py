"""The torch runtime of a run: devices, threads, TF32, seeds, start-up cost, the header and the xdist relay.

* ``--device=auto|cpu|cuda|cpu,cuda`` parametrizes every test that takes ``device`` (auto: cpu, plus cuda when
  available). TF32 is off, so float32 matmuls are real float32 on GPUs too.
* ``--torch-threads=N`` / ``SPEC_TORCH_THREADS``: torch threads per process, serial or xdist worker (default 1).
* Every test starts with the global RNGs seeded from its node id (the same in every process).
* Start-up and exit cost: the controller of an xdist run imports no torch (its header names the installed torch; the
  workers report what they ran with at the end), every process moves its start-up objects out of the garbage
  collector's sight (``gc.freeze``) once collection is done, again after a test that imported a library and at the
  end of the session, and hypothesis is left out of pytest's assertion rewriting.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import random
import sys
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
    _leave_hypothesis_unrewritten(pluginmanager)
    _pause_gc_for_startup()
    group = parser.getgroup("spec", "PyTorch training specification")
    group.addoption("--device", dest="spec_device", default="auto",
                    help="devices to run device tests on: 'auto' (cpu, plus cuda when available) or a "
                         "comma-separated list of cpu,cuda")
    group.addoption("--torch-threads", dest="spec_torch_threads", default=None,
                    help=f"torch threads per process, serial or xdist worker (default 1; env {THREADS_ENV})")


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
        _freeze_startup_objects()
    else:  # the controller of an xdist run collects nothing: its start-up ends here
        _resume_gc()
    devices = _devices(config.getoption("spec_device"), runs)
    threads = _threads(config, runs)
    config.stash[_state_key] = RuntimeState(devices=devices, threads=threads,
                                            environment=_environment(devices) if runs else None)


def environment(config: pytest.Config) -> dict:
    """torch version, device names and torch threads of the processes that ran the tests (under xdist: as the
    first worker to finish reported them)."""
    st = state(config)
    if st.environment is not None:
        return st.environment
    return {"torch": f"{importlib.metadata.version('torch')} (installed; no worker reported)",
            "devices": ["(no worker reported)"], "threads": st.threads}


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
    from support.pytest_plugin.claims import registry
    from support.pytest_plugin.profiles import profile_name

    st = state(config)
    threads = str(st.threads)
    if st.environment is not None:
        torch_version, names = st.environment["torch"], ", ".join(st.environment["devices"])
    else:  # the controller of an xdist run: it has not imported torch
        torch_version = importlib.metadata.version("torch")
        names = "cpu, plus cuda where the workers find it" if st.devices is None else ", ".join(st.devices)
    if config.getoption("numprocesses", default=None):
        threads += " per xdist worker"
    return [
        f"torch {torch_version}; devices: {names}; torch threads: {threads}; "
        f"hypothesis profile: {profile_name(config)}; claims registered: {len(registry(config))}",
    ]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    st = state(config)
    if not runs_tests(config) and st.environment is not None:  # the header could not say it
        env = st.environment
        terminalreporter.write_line(f"xdist workers ran with torch {env['torch']}; "
                                    f"devices: {', '.join(env['devices'])}; "
                                    f"torch threads: {env['threads']} per worker")


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


# ---------------------------------------------------------------- start-up cost
_startup_done = False
_gc_paused = False  # the collector is off for the start-up (_pause_gc_for_startup)


def _leave_hypothesis_unrewritten(pluginmanager: pytest.PytestPluginManager) -> None:
    """Let hypothesis import without pytest's assertion rewriting.

    pytest rewrites the asserts of every module in the distribution of a plugin it loads from an entry point
    (``Config._mark_plugins_for_rewrite``): all of hypothesis, ~100 modules, whose asserts are internal checks a
    test never reports. Where bytecode is not written (PYTHONDONTWRITEBYTECODE, set on many CI machines) the
    rewritten modules are never cached and every process pays again: ~1.2 s of CPU each on 2 cores with torch
    2.13, three processes in a ``-n 2`` run. Test modules, conftests and this plugin are still rewritten. Uses
    the rewrite hook's marked-names set; where a pytest version lacks it, nothing changes but the speed
    (``tests/test_plugin.py`` notices).
    """
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set) and "hypothesis" in marked:
        marked.discard("hypothesis")
        getattr(hook, "_marked_for_rewrite_cache", {}).clear()


def _pause_gc_for_startup() -> None:
    """Keep the garbage collector off from the plugin's registration (before torch is imported) until collection is
    done (or, in an xdist controller, until configuration is): the objects created meanwhile live until the process
    ends and are frozen then, yet each full collection during torch's import and the collection walked all that
    existed so far (~0.2 s of every process on 2 cores with torch 2.13). Only in the first session of a process,
    and only where the collector was on."""
    global _gc_paused
    if not _startup_done and not _gc_paused and gc.isenabled():
        gc.disable()
        _gc_paused = True


def _resume_gc() -> None:
    global _gc_paused
    if _gc_paused:
        gc.enable()
        _gc_paused = False


def _freeze_startup_objects() -> None:
    """Move the objects that exist now (torch, hypothesis, the spec modules, the collected items) out of the
    garbage collector's sight with ``gc.freeze()`` (https://docs.python.org/3/library/gc.html#gc.freeze).

    They live until the process ends, yet every full collection walked all of them: the ones triggered while
    hypothesis and the spec modules import, pytest's ``gc.collect()`` calls at the end of a session and the
    one at interpreter exit. Measured on 2 cores with torch 2.13, that was ~1.5 s of every process (serial,
    and each xdist worker). Objects the tests create are collected as usual, so unraisable exceptions from
    them are still reported. Done in the first session of a process only (not again in pytester's).
    """
    if not _startup_done:
        gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    global _startup_done
    _freeze_startup_objects()  # what collection added
    _startup_done = True
    _resume_gc()


# A test that imports this many modules brought in a library (torch._dynamo with sympy on the first optimizer or
# torch.func.grad, Opacus with scipy, ...): hundreds of thousands of objects that live until the process ends
LAZY_IMPORT_MODULES = 100
_outermost_config: pytest.Config | None = None  # the process's own session, not one pytester runs inside it


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    global _outermost_config
    if _outermost_config is None:
        _outermost_config = config


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """After a test that imported a library, collect its garbage and freeze what is left (the library), as at
    start-up: otherwise every later full collection, the two pytest runs at the end of a session and the one at
    interpreter exit walk the library's objects again (~0.7 s at exit alone with torch._dynamo and Opacus loaded)."""
    modules = len(sys.modules)
    try:
        return (yield)
    finally:
        if item.config is _outermost_config and len(sys.modules) - modules >= LAZY_IMPORT_MODULES:
            gc.collect()
            gc.freeze()


@pytest.hookimpl(trylast=True)  # after pytest's own collection for unraisable exceptions
def pytest_unconfigure(config: pytest.Config) -> None:
    """The process is about to exit: freeze what is left, so that the collections still to come (pytest's last one,
    the interpreter's at exit) do not walk it."""
    _resume_gc()  # a session that ended before its collection finished
    if config is _outermost_config:
        gc.freeze()
