"""Build real git repositories for tests."""

import os
import subprocess
from pathlib import Path

from minion.testing import write_files  # noqa: F401  (the tests import it from here)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.com",
}


def run_git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env=env
    )
    return out.stdout.decode().strip()


DEFAULT_FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a - b\n",
    "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    ".gitignore": "__pycache__/\n.venv/\n*.log\n",
}


def make_repo(path: Path, files: dict[str, str | bytes] | None = None, *, commit: bool = True) -> Path:
    """Create a git repo at ``path`` with ``files`` (default: a tiny calc package) committed."""
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "-b", "main")
    write_files(path, DEFAULT_FILES if files is None else files)
    if commit:
        run_git(path, "add", "-A")
        run_git(path, "commit", "-q", "-m", "initial")
    return path
