"""Hypothesis profiles: ``dev``, ``ci`` (the default) and ``thorough``, chosen with ``--hypothesis-profile`` (the
option of hypothesis' own pytest plugin) or ``SPEC_HYPOTHESIS_PROFILE``.

All profiles are defined in one function (the pattern of Hypothesis' ``tests/common/setup.py``).
"""

from __future__ import annotations

import os

import pytest

from support.pytest_plugin._xdist import runs_tests

CI_EXAMPLES = 25
PROFILE_NAMES = ("dev", "ci", "thorough")
DEFAULT_PROFILE = "ci"
PROFILE_ENV = "SPEC_HYPOTHESIS_PROFILE"

_profile_key = pytest.StashKey[str]()


def profile_settings() -> dict:
    """The suite's hypothesis profiles by name."""
    from hypothesis import HealthCheck, Phase, settings

    return {
        # Local iteration: random examples (a new corner each run), saved failures replayed from the database.
        "dev": settings(max_examples=10, deadline=None, print_blob=True),
        # The default: the same examples on every run and every worker, so a red run is reproducible.
        "ci": settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                       suppress_health_check=[HealthCheck.too_slow]),
        # Before a release or after a torch upgrade: 10x the examples of ci, random.
        "thorough": settings(max_examples=10 * CI_EXAMPLES, deadline=None, print_blob=True,
                             suppress_health_check=[HealthCheck.too_slow],
                             phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]),
    }


def profile_name(config: pytest.Config) -> str:
    """The hypothesis profile this run uses."""
    return config.stash[_profile_key]


@pytest.hookimpl(tryfirst=True)  # registers the profiles before hypothesis's own plugin loads one
def pytest_configure(config: pytest.Config) -> None:
    explicit = config.getoption("hypothesis_profile", default=None)
    name = explicit or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILE_NAMES:
        source = "--hypothesis-profile" if explicit else PROFILE_ENV
        raise pytest.UsageError(f"{source}={name!r} is not a profile of this suite; "
                                f"choose one of {sorted(PROFILE_NAMES)}")
    # hypothesis's own plugin loads an explicit --hypothesis-profile in every process, and with -v its header
    # names the loaded profile: in those cases hypothesis is imported anyway and our profile must be loaded there
    if runs_tests(config) or explicit or config.getoption("verbose") > 0:
        from hypothesis import settings

        for profile, profile_settings_ in profile_settings().items():
            settings.register_profile(profile, profile_settings_)
        settings.load_profile(name)
    config.stash[_profile_key] = name
