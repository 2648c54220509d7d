"""The start-up and exit cost of every process of a run (serial, each xdist worker and the controller).

* hypothesis is left out of pytest's assertion rewriting.
* The garbage collector is off from this part's registration until collection is done (in an xdist controller, until
  configuration is done); then the objects that exist (torch, hypothesis, the spec modules, the collected items) are
  moved out of its sight with ``gc.freeze()``, again after a test that imported a library, and at the end of the
  session.

Registered first of the plugin's parts, before any of them imports hypothesis or torch.
"""

from __future__ import annotations

import gc
import sys

import pytest

from support.pytest_plugin._xdist import runs_tests

# A test that imports this many modules brought in a library (torch._dynamo with sympy on the first optimizer or
# torch.func.grad, Opacus with scipy, ...): hundreds of thousands of objects that live until the process ends
LAZY_IMPORT_MODULES = 100

_startup_done = False
_gc_paused = False  # the collector is off for the start-up (_pause_gc_for_startup)
_outermost_config: pytest.Config | None = None  # the process's own session, not one pytester runs inside it


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    _leave_hypothesis_unrewritten(pluginmanager)
    _pause_gc_for_startup()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    global _outermost_config
    if _outermost_config is None:
        _outermost_config = config


@pytest.hookimpl(tryfirst=True)  # its cleanup registered before pytest's own: cleanups run last-in, first-out
def pytest_configure(config: pytest.Config) -> None:
    if not runs_tests(config):  # the controller of an xdist run collects nothing: its start-up ends here
        _resume_gc()
    if config is _outermost_config:
        config.add_cleanup(_freeze_at_exit)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    global _startup_done
    _freeze_startup_objects()
    _startup_done = True
    _resume_gc()


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


def pytest_unconfigure(config: pytest.Config) -> None:
    _resume_gc()  # a session that ended before its collection finished


def _freeze_at_exit() -> None:
    """The session's last cleanup (after pytest's last collection for unraisable exceptions, which pytest 9 runs in
    its unconfigure and pytest 8 in a cleanup of its own): freeze what is left, so that the interpreter's collection
    at exit does not walk it."""
    global _outermost_config
    gc.freeze()
    _outermost_config = None  # a later pytest.main() in this process is an outermost session again


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

    They live until the process ends, yet every full collection would walk all of them: pytest's ``gc.collect()``
    calls at the end of a session and the one at interpreter exit. Measured on 2 cores with torch 2.13, that was
    ~1.5 s of every process (serial, and each xdist worker). Objects the tests create are collected as usual, so
    unraisable exceptions from them are still reported. Done in the first session of a process only (not again in
    pytester's). The garbage start-up left while the collector was off (~30,000 objects after collecting the spec,
    ~8 MB) is frozen with it: collecting it first would cost ~0.5 s a process.
    """
    if not _startup_done:
        gc.freeze()
