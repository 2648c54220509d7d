"""Root conftest: loads the suite's plugin (the package support/pytest_plugin/) and pytest's pytester for the
self-tests."""

pytest_plugins = ["support.pytest_plugin", "pytester"]
