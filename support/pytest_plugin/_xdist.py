"""Which process of a run this is: the controller of an xdist run runs no test and must stay light."""

from __future__ import annotations

import pytest


def is_xdist_controller(config: pytest.Config) -> bool:
    """True only in the controller of an xdist run (``-n N``): it hands the tests to workers and runs none itself.

    (pytest-xdist's own ``xdist.plugin.is_xdist_controller`` needs xdist importable; this one reads the options.)
    """
    return (
        not hasattr(config, "workerinput")
        and not config.getoption("collectonly")
        and getattr(config.option, "dist", "no") != "no"
        and bool(getattr(config.option, "tx", None))
    )


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def runs_tests(config: pytest.Config) -> bool:
    """True in a serial run and in xdist workers."""
    return not is_xdist_controller(config)
