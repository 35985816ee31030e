"""A worker killed at any node boundary resumes to the same branch, running no finished node twice."""

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from minion.runs.events import log_path, read_events
from minion.engine.create import RunRequest, create_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.driver import drive
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import PYTEST, done, replace, text, write_script

# implement misses the bug, the check fails, one repair fixes it: six nodes, five boundaries.
SCRIPT = [
    [text("Document add."), replace("calc/ops.py", "def add(a, b):", 'def add(a, b):\n    """Sum."""')],
    done("documented"),
    [replace("calc/ops.py", "return a - b", "return a + b")],
    done("fixed"),
]
EXPECTED = {"calc/ops.py": 'def add(a, b):\n    """Sum."""\n    return a + b'}
NODES = ["context", "implement", "check: tests", "repair 1", "check: tests", "commit"]

def start(repo, tmp_path):
    model = write_script(tmp_path, SCRIPT)
    store = RunStore()
    record = create_run(RunRequest(task="fix add", repo=repo, model=model, flags={"checks": {"tests": PYTEST}}), store)
    return record, store


def branch_content(repo, branch):
    """The branch's changed files and their text."""
    files = run_git(repo, "diff", "--name-only", f"{branch}~1", branch).splitlines()
    return {f: run_git(repo, "show", f"{branch}:{f}") for f in files}


def test_an_uninterrupted_run(repo, tmp_path):
    record, store = start(repo, tmp_path)
    assert drive(record.id).returncode == 0
    final = store.get(record.id)
    assert final.status is Status.OK
    assert [n.name for n in store.nodes(record.id)] == NODES
    assert branch_content(repo, final.branch) == EXPECTED


@pytest.mark.parametrize("kill_after", range(len(NODES) - 1))
def test_kill_at_each_boundary_then_resume(repo, tmp_path, kill_after):
    before = fingerprint(repo)
    record, store = start(repo, tmp_path)
    killed = drive(record.id, kill_after)
    assert killed.returncode == -9
    assert store.get(record.id).status is Status.RUNNING  # what a dead worker leaves behind

    resumed = subprocess.run([sys.executable, "-m", "minion.cli", "resume", record.id, "--json"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert final["status"] == "ok"
    assert branch_content(repo, final["branch"]) == EXPECTED

    events = read_events(log_path(record.id))
    finished = Counter(e["seq"] for e in events if e["type"] == "node.end")
    assert set(finished.values()) == {1}, finished  # no node finished twice
    replayed = [e["seq"] for e in events if e["type"] == "node.replayed"]
    assert replayed == list(range(kill_after + 1))
    tool_calls = [e for e in events if e["type"] == "agent.tool"]
    assert len(tool_calls) == 2  # each edit ran once, though the run was killed and resumed
    assert [n.name for n in store.nodes(record.id)] == NODES
    assert_unchanged(before, fingerprint(repo))


def test_a_run_whose_worktree_is_gone_is_lost(repo, tmp_path):
    record, store = start(repo, tmp_path)
    assert drive(record.id, 0).returncode == -9
    shutil.rmtree(record.worktree)
    resumed = subprocess.run([sys.executable, "-m", "minion.cli", "resume", record.id], capture_output=True, text=True)
    assert resumed.returncode == 2 and "lost" in resumed.stderr
    assert store.get(record.id).status is Status.LOST
    assert "worktree" in store.get(record.id).error


def test_finished_runs_do_not_resume(repo, tmp_path):
    record, _ = start(repo, tmp_path)
    drive(record.id)
    resumed = subprocess.run([sys.executable, "-m", "minion.cli", "resume", record.id], capture_output=True, text=True)
    assert resumed.returncode == 2 and "only interrupted" in resumed.stderr
