"""Hypothesis profiles: ``dev``, ``ci`` (the default) and ``thorough``, chosen with ``--hypothesis-profile`` (the
option of hypothesis' own pytest plugin) or ``SPEC_HYPOTHESIS_PROFILE``.

All profiles are defined in one function (the pattern of Hypothesis' ``tests/common/setup.py``).

The profile also sets how many seed blocks a statistical test runs on: a test that takes the ``seed_block`` fixture
draws its runs (seeds, widths) from block 0 in a default run, and the thorough profile parametrizes it over blocks
0 to ``THOROUGH_SEED_BLOCKS - 1``, so its rate claims are shown again on fresh, disjoint draws.
"""

from __future__ import annotations

import os

import pytest

from support.pytest_plugin._xdist import runs_tests

# ---------------------------------------------------------------- options: the profiles (the option is hypothesis')
CI_EXAMPLES = 25
PROFILE_NAMES = ("dev", "ci", "thorough")
DEFAULT_PROFILE = "ci"
PROFILE_ENV = "SPEC_HYPOTHESIS_PROFILE"
THOROUGH_SEED_BLOCKS = 5  # block 0 (the default run's) and 4 more


def profile_settings() -> dict:
    """The suite's hypothesis profiles by name."""
    from hypothesis import HealthCheck, Phase, settings

    return {
        # Local iteration: random examples (a new corner each run), saved failures replayed from the database.
        "dev": settings(max_examples=10, deadline=None, print_blob=True),
        # The default: the same examples on every run and every worker, so a red run is reproducible.
        "ci": settings(
            max_examples=CI_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
        # Before a release or after a torch upgrade: 10x the examples of ci, random.
        "thorough": settings(
            max_examples=10 * CI_EXAMPLES,
            deadline=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow],
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        ),
    }


# ---------------------------------------------------------------- state
_profile_key = pytest.StashKey[str]()


def profile_name(config: pytest.Config) -> str:
    """The hypothesis profile this run uses."""
    return config.stash[_profile_key]


def seed_blocks(config: pytest.Config) -> tuple[int, ...]:
    """The seed blocks a statistical test runs on in this run: (0,) unless the profile is thorough."""
    return tuple(range(THOROUGH_SEED_BLOCKS)) if profile_name(config) == "thorough" else (0,)


# ---------------------------------------------------------------- configure
@pytest.hookimpl(tryfirst=True)  # registers the profiles before hypothesis's own plugin loads one
def pytest_configure(config: pytest.Config) -> None:
    explicit = config.getoption("hypothesis_profile", default=None)
    name = explicit or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILE_NAMES:
        source = "--hypothesis-profile" if explicit else PROFILE_ENV
        raise pytest.UsageError(
            f"{source}={name!r} is not a profile of this suite; choose one of {sorted(PROFILE_NAMES)}"
        )
    # hypothesis's own plugin loads an explicit --hypothesis-profile in every process, and with -v its header
    # names the loaded profile: in those cases hypothesis is imported anyway and our profile must be loaded there
    if runs_tests(config) or explicit or config.getoption("verbose") > 0:
        from hypothesis import settings

        for profile, profile_settings_ in profile_settings().items():
            settings.register_profile(profile, profile_settings_)
        settings.load_profile(name)
    config.stash[_profile_key] = name


# ---------------------------------------------------------------- collection
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed_block" in metafunc.fixturenames:
        blocks = seed_blocks(metafunc.config)
        if len(blocks) > 1:  # a default run keeps the test's node id (no parameter)
            metafunc.parametrize("seed_block", blocks, ids=[f"block{b}" for b in blocks])


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def seed_block() -> int:
    """Which block of seeds (or widths) a statistical test draws its runs from: 0 in a default run; under the
    thorough profile the test is parametrized over every block of ``seed_blocks``."""
    return 0


# ---------------------------------------------------------------- report
def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"hypothesis profile: {profile_name(config)}"]
