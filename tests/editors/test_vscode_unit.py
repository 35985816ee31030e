"""The VS Code extension's own checks: its unit tests (node's test runner, no VS Code
needed) and eslint, run through npm as a developer runs them."""

import re
import subprocess

import pytest

from .conftest import EDITORS

EXTENSION = EDITORS / "vscode"

pytestmark = pytest.mark.editor


def npm(*args: str) -> subprocess.CompletedProcess:
    assert (EXTENSION / "node_modules").is_dir(), "run scripts/install-editors.sh (npm ci)"
    return subprocess.run(["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=300)


def test_unit_tests_pass():
    done = npm("test")
    assert done.returncode == 0, done.stdout + done.stderr
    passed = int(re.search(r"^# pass (\d+)$", done.stdout, re.M).group(1))
    assert passed >= 20 and re.search(r"^# fail 0$", done.stdout, re.M), done.stdout
    assert re.search(r"^# skipped 0$", done.stdout, re.M) and re.search(r"^# todo 0$", done.stdout, re.M), done.stdout


def test_lint_is_clean():
    done = npm("run", "lint")
    assert done.returncode == 0, done.stdout + done.stderr
