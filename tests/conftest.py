"""Shared fixtures: an isolated state dir per test and real git repos in temp dirs."""

from pathlib import Path

import pytest

from support.gitrepo import make_repo  # noqa: F401  (re-exported for tests)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own MINION_STATE_DIR, and no real API key leaks in."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("MINION_STATE_DIR", str(state))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return state


@pytest.fixture
def repo(tmp_path) -> Path:
    """A small committed Python repo at a path with a space and non-ASCII characters."""
    return make_repo(tmp_path / "user repo ü")
