"""On failure, a "reproduce" section: the command that reruns the test alone with this run's settings, the
environment it failed in, and the claim it checks (the pattern of array-api-tests' reproducers)."""

from __future__ import annotations

import pytest

from support.pytest_plugin import runtime
from support.pytest_plugin.claims import registry
from support.pytest_plugin.profiles import profile_name


def reproducer(item: pytest.Item) -> str:
    config = item.config
    st = runtime.state(config)
    env = runtime.environment(config)
    lines = [f"pytest '{item.nodeid}' -p no:randomly --hypothesis-profile={profile_name(config)} -n0"
             + (f" --torch-threads={st.threads}" if st.threads != 1 else ""),
             f"torch {env['torch']}, devices {','.join(st.devices or ['?'])}, torch threads {st.threads}"]
    order_seed = getattr(config.option, "randomly_seed", None)
    if isinstance(order_seed, int) and config.pluginmanager.hasplugin("randomly"):
        # the test alone should pass whatever ran before it; if only the shuffled run fails, rerun that order
        lines.append(f"the order of this run: the same command with --randomly-seed={order_seed} (pytest-randomly)")
    claims = registry(config)
    for mark in item.iter_markers("claim"):
        claim = claims.get(mark.args[0]) if mark.args else None
        if claim is not None:
            lines.append(f"claim {claim.id} ({claim.verdict.value}): {claim.statement}")
            lines.append(f"every test of this claim: pytest spec --claim {claim.id}")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        report.sections.append(("reproduce", reproducer(item)))
    return report
