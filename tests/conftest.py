"""Shared fixtures: an isolated state dir per test and real git repos in temp dirs."""

import os
from pathlib import Path

import pytest

from support.gitrepo import make_repo  # noqa: F401  (re-exported for tests)
from support.user_config import write_quiet_user_config


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own MINION_STATE_DIR and user config, and no real API key leaks in.

    The user config turns background warming and standbys off (support/user_config.py).
    """
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("MINION_STATE_DIR", str(state))
    config_home = tmp_path_factory.mktemp("config")
    write_quiet_user_config(config_home)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return state


@pytest.fixture
def repo(tmp_path) -> Path:
    """A small committed Python repo at a path with a space and non-ASCII characters."""
    return make_repo(tmp_path / "user repo ü")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failure: a missing tool or limit must not pass unnoticed."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"
