"""The VS Code extension's own checks: its unit tests (node's test runner, no VS Code
needed) and eslint, run through npm as a developer runs them."""

import os
import re
import subprocess

import pytest

from .conftest import EDITORS, PYTHON

EXTENSION = EDITORS / "vscode"

pytestmark = pytest.mark.editor


def npm(*args: str) -> subprocess.CompletedProcess:
    assert (EXTENSION / "node_modules").is_dir(), "run scripts/install-editors.sh (npm ci)"
    env = {**os.environ, "MINION_PYTHON": PYTHON}  # an interpreter with minion, for the probe's test
    return subprocess.run(["npm", *args], cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=300)


def test_unit_tests_pass():
    done = npm("test")
    assert done.returncode == 0, done.stdout + done.stderr
    passed = int(re.search(r"^# pass (\d+)$", done.stdout, re.M).group(1))
    assert passed >= 20 and re.search(r"^# fail 0$", done.stdout, re.M), done.stdout


def test_lint_is_clean():
    done = npm("run", "lint")
    assert done.returncode == 0, done.stdout + done.stderr
