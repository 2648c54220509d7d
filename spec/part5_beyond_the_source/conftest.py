"""Part 5's fixture: one run of DistributedDataParallel ranks that the distributed claims' tests share, started in
the background as soon as the session knows it will run one of them."""

import pytest

from support.ddp_launch import start_launch_once, unavailable_reason
from support.distributed import SPEC_CONFIG

# Every wait is bounded: the launcher kills the ranks after this many seconds. The run takes ~3.5 s on an idle
# 2-core machine (one fresh interpreter imports torch and torch._dynamo, which DDP needs, then forks the other ranks;
# the uneven scenario waits 1 s in a collective that cannot complete); 60 s leaves room for a machine loaded by other
# pytest workers, and the process group's own timeout (20 s) ends a rank stuck in a collective before that.
LAUNCH_TIMEOUT_S = 60.0
LOOPBACK_ONLY = {"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}
DDP_UNAVAILABLE = unavailable_reason()  # the distributed tests' skip reason, or None
_launch_key = pytest.StashKey[object]()


def _root(config: pytest.Config):
    """A directory of this session; pytest-xdist workers share the parent of their basetemp, so they share the run."""
    root = config._tmp_path_factory.getbasetemp()  # the tmp_path_factory fixture's (pytest-xdist reads it too)
    return root.parent if hasattr(config, "workerinput") else root


def _launch(config: pytest.Config):
    if _launch_key not in config.stash:
        config.stash[_launch_key] = start_launch_once(
            SPEC_CONFIG, _root(config) / "ddp", env=LOOPBACK_ONLY, timeout_s=LAUNCH_TIMEOUT_S
        )
    return config.stash[_launch_key]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the ranks now when a test of this session will read them: they import torch and wait out the uneven
    scenario's timeout while this process runs other tests."""
    option = session.config.option
    runs_no_test = option.collectonly or getattr(option, "setupplan", False) or option.show_fixtures_per_test
    if runs_no_test or DDP_UNAVAILABLE is not None:
        return
    if any("ddp_run" in getattr(item, "fixturenames", ()) for item in session.items):
        _launch(session.config)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """Never leave ranks running: an interrupted session stops them, any other waits for them (another pytest-xdist
    worker may still read the run)."""
    launch = session.config.stash.get(_launch_key, None)
    if launch is not None:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            launch.stop()
        else:
            launch.wait()


@pytest.fixture(scope="session")
def ddp_run(request):
    """The ranks' results for support.distributed.SPEC_CONFIG: launched once per session (see
    pytest_collection_finish), read back here."""
    return _launch(request.config).result()
