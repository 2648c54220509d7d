"""Root conftest: loads the suite's plugin (the package support/pytest_plugin/) and pytest's pytester for the
self-tests, and makes a torchvision whose C extension cannot load importable.

torchvision from PyPI is a CUDA build; beside the CPU build of torch (this project's constraints) its import fails
("operator torchvision::nms does not exist"), and with it every import that pulls torchvision in: timm, torchmetrics,
and transformers' models when Pillow is installed (the claims report's matplotlib brings it).
tests/model_corpus/torchvision_cpu.py declares the two operators that import needs, before collection, only where
torchvision is installed and its extension does not load, in every process that runs tests or loads the factory of
--model (not in the controller of an xdist run otherwise: it runs no test and imports no torch). On a machine with a
matching torchvision (PyTorch's CPU index, or CUDA torch) it does nothing.
"""

import importlib.util
import os
import sys

import pytest

pytest_plugins = ["support.pytest_plugin", "pytester"]


@pytest.hookimpl(tryfirst=True)  # before the plugin imports the factory of --model
def pytest_configure(config: pytest.Config) -> None:
    xdist_controller = not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no"
    loads_a_model = bool(config.getoption("spec_model", None) or os.environ.get("SPEC_MODEL"))  # it imports torch
    if xdist_controller and not loads_a_model:
        return
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    from tests.model_corpus.torchvision_cpu import declare_missing_ops

    declare_missing_ops()
