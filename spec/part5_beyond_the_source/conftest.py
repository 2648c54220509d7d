"""Part 5's fixture: one run of DistributedDataParallel ranks that the distributed claims' tests share."""

import os

import pytest

from support.distributed import SPEC_CONFIG, launch_once

# Every wait is bounded: the launcher kills the ranks after this many seconds. The run takes ~3.5 s on an idle
# 2-core machine (one fresh interpreter imports torch and torch._dynamo, which DDP needs, then forks the other ranks;
# the uneven scenario waits 1 s in a collective that cannot complete); 60 s leaves room for a machine loaded by other
# pytest workers, and the process group's own timeout (20 s) ends a rank stuck in a collective before that.
LAUNCH_TIMEOUT_S = 60.0
LOOPBACK_ONLY = {"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}


@pytest.fixture(scope="session")
def ddp_run(tmp_path_factory):
    """The ranks' results for support.distributed.SPEC_CONFIG: launched once per session, whichever test asks first.

    pytest-xdist workers share the parent of their basetemp (a directory of this session), so they share the run too.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return launch_once(SPEC_CONFIG, root / "ddp", env=LOOPBACK_ONLY, timeout_s=LAUNCH_TIMEOUT_S)
