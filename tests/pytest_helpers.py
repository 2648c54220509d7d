"""Helpers for testing the plugin on throw-away projects (pytester)."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import settings

from support.pytest_plugin.profiles import profile_name


@contextlib.contextmanager
def spec_project(pytester: pytest.Pytester, request: pytest.FixtureRequest, registry_src: str | None):
    """A project that loads the plugin and has an empty spec/: with the registry defined by ``registry_src``, or
    the suite's own registry when it is None. The suite's SPEC_* environment variables of the outer run (a
    --model, a profile, threads) are cleared for it: a test sets the ones it means."""
    pytester.syspathinsert()
    pytester.makeconftest('pytest_plugins = ["support.pytest_plugin"]')
    registry = "" if registry_src is None else "claim_registry = fake_registry:REGISTRY\n"
    pytester.makeini(f"[pytest]\n{registry}claim_spec_dir = spec\n")
    if registry_src is not None:
        pytester.makepyfile(fake_registry=registry_src)
    pytester.mkdir("spec")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("SPEC_")]:
            mp.delenv(name)
        try:
            yield pytester
        finally:
            # an in-process run loads its own hypothesis profile; give the outer session its own back
            settings.load_profile(profile_name(request.config))
