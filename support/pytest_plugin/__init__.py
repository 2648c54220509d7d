"""The suite's pytest plugin (loaded by the root conftest.py through ``pytest_plugins``).

A package of parts, each owning its options, its state (its own ``pytest.StashKey``) and its line of the report
header, after the pattern of pytest's own plugins (``_pytest/junitxml.py``) and pytest-xdist's ``plugin.py``. Each
part reads top to bottom: options, state, configure, collection hooks, fixtures, run and report hooks.

* ``startup``: the start-up and exit cost of every process: hypothesis left out of pytest's assertion rewriting,
  the garbage collector off during start-up and ``gc.freeze`` after it, after a test that imported a library and
  at the end of the session.
* ``profiles``: hypothesis profiles ``dev``, ``ci`` (derandomized, no deadline; the default) and ``thorough``
  (10x the examples of ci), chosen with ``--hypothesis-profile`` or ``SPEC_HYPOTHESIS_PROFILE``; the ``seed_block``
  fixture of statistical tests (block 0, or blocks 0-4 under ``thorough``); the header names the profile.
* ``runtime``: the ``device`` parameter (cpu always, cuda when available; ``--device`` narrows it; TF32 off),
  torch threads per process (``--torch-threads``), per-test RNG seeds from the node id, the header's torch,
  devices and threads, and the xdist relay of what the workers ran with. The controller of an xdist run imports
  neither torch nor hypothesis.
* ``claims``: the ``claim`` and ``meta`` markers, their lint (an unknown id is a collection error naming it),
  claim coverage, and ``--claim ID`` to run the tests of one claim; the header counts the registered claims.
* ``figures``: the ``figures`` fixture (measured numbers and curves, carried in ``user_properties``).
* ``reproduce``: the "reproduce" section of a failing test.
* ``claims_report``: ``--claims-report=DIR`` and the claims summary; it renders with the ``support.report``
  library, which knows nothing of pytest.
* ``your_model``: ``--model=PACKAGE.MODULE:FACTORY`` (``SPEC_MODEL``), the ``model_under_test`` fixture (the user's
  model, or the suite's reference models) and ``record_check`` for spec/part6_your_model; a bad factory is one
  usage error.

Parts depend on each other only through the accessor functions they export (``profiles.profile_name``,
``claims.registry``, ``runtime.state``), never in a circle (``tests/test_imports.py`` checks it).
"""

from support.pytest_plugin.runtime import node_seed

pytest_plugins = [
    "support.pytest_plugin.startup",  # first: before any part imports hypothesis or torch
    "support.pytest_plugin.profiles",
    "support.pytest_plugin.runtime",
    "support.pytest_plugin.claims",
    "support.pytest_plugin.figures",
    "support.pytest_plugin.reproduce",
    "support.pytest_plugin.claims_report",
    "support.pytest_plugin.your_model",
]

__all__ = ["node_seed"]
