"""Root conftest: loads the suite's plugin (support/pytest_plugin.py) and pytest's pytester for the self-tests."""

pytest_plugins = ["support.pytest_plugin", "pytester"]
