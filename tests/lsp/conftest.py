"""Fixtures of the LSP tests."""

from pathlib import Path

import pytest

from lsp_session import FILES
from support.gitrepo import make_repo


@pytest.fixture
def calc_repo(tmp_path) -> Path:
    """A committed calc package with a TODO for minion, at a path with a space and an ü."""
    return make_repo(tmp_path / "user repo ü", FILES)
