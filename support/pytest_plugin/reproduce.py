"""On failure, a "reproduce" section: the command that reruns the test alone with this run's settings, the
environment it failed in, and the claim it checks (the pattern of array-api-tests' reproducers)."""

from __future__ import annotations

import shlex

import pytest

import support.pytest_plugin.runtime as runtime
import support.pytest_plugin.your_model as your_model
from support.pytest_plugin.claims import registry
from support.pytest_plugin.profiles import profile_name


def command(item: pytest.Item) -> str:
    """The command that reruns ``item`` alone with the settings of this run that decide which tests exist and what
    they compute: the model under test (part-6 node ids carry its name), the devices when not ``auto`` (a test id
    carries its device), the hypothesis profile and the torch threads; ``-n0`` when xdist is installed (the
    project's ini may ask for workers), ``-p no:randomly`` (it is a plain plugin name; no error without it)."""
    config = item.config
    st = runtime.state(config)
    quoted = "'" + item.nodeid.replace("'", "'\"'\"'") + "'"  # always quoted: ids hold brackets, spaces
    parts = ["pytest", quoted, "-p no:randomly", f"--hypothesis-profile={profile_name(config)}"]
    if config.pluginmanager.hasplugin("xdist"):
        parts.append("-n0")
    if st.threads != 1:
        parts.append(f"--torch-threads={st.threads}")
    device = config.getoption("spec_device")
    if device != "auto":
        parts.append(f"--device={shlex.quote(device)}")
    spec = your_model.state(config).spec  # --model or SPEC_MODEL: the command names it either way
    if spec is not None:
        parts.append(f"--model={shlex.quote(spec)}")
    return " ".join(parts)


def reproducer(item: pytest.Item) -> str:
    config = item.config
    st = runtime.state(config)
    env = runtime.environment(config)
    lines = [
        command(item),
        f"torch {env['torch']}, devices {','.join(st.devices or ['?'])}, torch threads {st.threads}",
    ]
    order_seed = getattr(config.option, "randomly_seed", None)
    if isinstance(order_seed, int) and config.pluginmanager.hasplugin("randomly"):
        # the test alone should pass whatever ran before it; if only the shuffled run fails, rerun that order
        lines.append(f"the order of this run: the same command with --randomly-seed={order_seed} (pytest-randomly)")
    claims = registry(config)
    for mark in item.iter_markers("claim"):
        claim = claims.get(mark.args[0]) if mark.args else None
        if claim is not None:
            lines.append(f"claim {claim.id} ({claim.verdict.value}): {' '.join(claim.statement)}")
            lines.append(f"every test of this claim: pytest spec --claim {claim.id}")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        report.sections.append(("reproduce", reproducer(item)))
    return report
