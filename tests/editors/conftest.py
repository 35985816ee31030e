"""Shared by the real-editor tests: the repo they open, the scripted runs, and running an
editor as a subprocess with a hard timeout.

Every editor opens calc/ops.py of a fresh repo. Neovim and VS Code start two runs one
after the other: they delegate `add` (lines 1-2) with an instruction, apply the result, then
hand off the TODO in `mul`. One scripted model serves both runs: like an agent that looks
before it edits, it fixes `add` while `add` subtracts, else `mul`. Emacs hands off the TODO
alone. Checks are off in the repo's config: the runs' own checks are tested elsewhere, and
the editors' part is the protocol around them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from minion.runs.store import RunStore
from support.gitrepo import make_repo
from support.script import bash, done, replace, text, write_script

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
PYTHON = sys.executable  # the venv's: minion is installed in it

OPS = """\
def add(a, b):
    return a - b


def mul(a, b):
    # TODO(minion): make mul() multiply
    return 0
"""
FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": OPS,
    ".minion/config.toml": "checks = {}\nrepo_map_tokens = 0\n",
    ".gitignore": "__pycache__/\n",
}
SUMMARY = "Fixed the wrong function."
FIX_MUL = [[text("Make mul() multiply."), replace("calc/ops.py", "    return 0", "    return a * b")], done(SUMMARY)]
FIX_FIRST_BUG = [
    [text("Fix whichever function is wrong first."),
     bash("if grep -q 'return a - b' calc/ops.py; then sed -i 's/return a - b/return a + b/' calc/ops.py; "
          "else sed -i 's/return 0$/return a * b/' calc/ops.py; fi")],
    done(SUMMARY),
]


@pytest.fixture
def calc_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "user repo", FILES)


@pytest.fixture
def model(tmp_path) -> str:
    """Fixes `add` while it subtracts, else `mul`: for two runs one after the other."""
    return write_script(tmp_path, FIX_FIRST_BUG)


@pytest.fixture
def mul_model(tmp_path) -> str:
    """Fixes `mul`: for a single TODO hand-off."""
    return write_script(tmp_path, FIX_MUL, "mul.json")


def run_editor(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run an editor in its own process group; on timeout kill the whole group (the editor
    and the language server it started) and fail with what it printed."""
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{argv[0]} timed out after {timeout}s\nstdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def version_line(executable: str) -> str:
    return subprocess.run([executable, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def python_settings() -> dict[str, str | None]:
    """The `python` setting of each run, by id: the server stores the merged settings a run
    got in its record, and in these tests only the editor sets `python` (there is no user
    config, and a repository may not)."""
    return {record.id: record.settings.python for record in RunStore().recent()}
