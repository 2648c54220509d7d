"""Helpers for testing the plugin on throw-away projects (pytester)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import settings

from support.pytest_plugin.profiles import profile_name


@contextlib.contextmanager
def spec_project(pytester: pytest.Pytester, request: pytest.FixtureRequest, registry_src: str):
    """A project that loads the plugin with the registry defined by ``registry_src`` and has an empty spec/."""
    pytester.syspathinsert()
    pytester.makeconftest('pytest_plugins = ["support.pytest_plugin"]')
    pytester.makeini("[pytest]\nclaim_registry = fake_registry:REGISTRY\nclaim_spec_dir = spec\n")
    pytester.makepyfile(fake_registry=registry_src)
    pytester.mkdir("spec")
    try:
        yield pytester
    finally:
        # an in-process run loads its own hypothesis profile; give the outer session its own back
        settings.load_profile(profile_name(request.config))
