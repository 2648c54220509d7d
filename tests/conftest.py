"""Self-tests' conftest: torchvision made importable beside a torch its C extension cannot load into.

torchmetrics imports torchvision when it is installed (tests/test_support_metrics_peers.py), and torchvision 0.28
fails to import where its extension does not load (a CUDA build beside the CPU build of torch):
tests/model_corpus/torchvision_cpu.py declares the two operators its import needs. Done in every process that runs
tests, before collection; not in the controller of an xdist run, which runs none and does not import torch.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    xdist_controller = not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no"
    if not xdist_controller:
        from tests.model_corpus.torchvision_cpu import declare_missing_ops

        declare_missing_ops()
