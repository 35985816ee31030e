"""`minion revise`: a finished run sent back with feedback commits a second round on its branch."""

import json
import os
import subprocess
import sys

import pytest

from minion.engine.create import RunRequest, create_run, revise_request
from minion.engine.execute import execute_run
from minion.errors import MinionError
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import done, replace, write_script

EMPTY = "def add(a, b):\n    return a + b\n\n\ndef total(items):\n    return sum(items) if items else 0\n"


def minion(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_revise_commits_a_second_round_on_top_of_the_same_branch(repo, tmp_path):
    before = fingerprint(repo)
    first_model = write_script(tmp_path, [[replace("calc/ops.py", "return a - b", "return a + b")],
                                          done("add() now adds.")], "one.json")
    ran = minion("run", "fix add", "--model", first_model, "--json", cwd=repo)
    assert ran.returncode == 0, ran.stderr
    first = json.loads(ran.stdout)

    second_model = write_script(tmp_path, [[replace("calc/ops.py", "return a + b\n", EMPTY[len("def add(a, b):\n    "):])],
                                           done("total() handles an empty list.")], "two.json")
    revised = minion("revise", first["id"], "also handle empty input", "--model", second_model, "--json", cwd=repo)
    assert revised.returncode == 0, revised.stderr
    second = json.loads(revised.stdout)

    assert second["status"] == "ok" and second["revises"] == first["id"] and second["id"] != first["id"]
    assert second["branch"] == first["branch"] and second["task"] == "also handle empty input"
    branch = first["branch"]
    # One commit per round: the second's parent is the first, which sits on the first run's snapshot.
    assert run_git(repo, "rev-parse", branch) == second["head"]
    assert run_git(repo, "rev-parse", f"{branch}~1") == first["head"]
    assert run_git(repo, "rev-parse", f"{branch}~2") == first["base"]
    assert run_git(repo, "rev-list", "--count", f"{first['base']}..{branch}") == "2"
    round_two = run_git(repo, "diff", f"{branch}~1", branch)
    changed = [line for line in round_two.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+", "+", "+def total(items):", "+    return sum(items) if items else 0"]
    assert run_git(repo, "show", f"{branch}:calc/ops.py") + "\n" == EMPTY
    assert "Minion-Task: also handle empty input" in run_git(repo, "log", "-1", "--format=%B", branch)
    # The revision's change is the whole branch's, from the first run's base.
    assert second["base"] == first["base"] and second["files"] == ["calc/ops.py"]

    # The second round's prompt told the agent what the first did, and the feedback.
    store = RunStore()
    implement = next(n for n in store.nodes(second["id"]) if n.kind == "agent")
    prompt = json.dumps(implement.result)
    assert "fix add" in prompt and "add() now adds." in prompt and "calc/ops.py" in prompt
    assert "also handle empty input" in prompt and first["id"] in prompt
    assert store.get(second["id"]).revises == first["id"]

    listed = minion("list", cwd=repo).stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == [second["id"], first["id"]]
    assert_unchanged(before, fingerprint(repo))


async def test_what_cannot_be_revised_says_why(repo, tmp_path):
    before = fingerprint(repo)
    store = RunStore()
    model = write_script(tmp_path, [done("Nothing to do.")])
    nothing = create_run(RunRequest(task="look around", repo=repo, model=model, flags={"checks": {}}), store)
    with pytest.raises(MinionError, match="still queued"):
        revise_request(store, nothing.id, "more")
    final = await execute_run(nothing.id, store)
    assert final.status is Status.OK and final.files == []
    with pytest.raises(MinionError, match="no branch to revise"):
        revise_request(store, nothing.id, "more")
    with pytest.raises(MinionError, match="no run with id"):
        revise_request(store, "nosuchrun", "more")
    with pytest.raises(MinionError, match="feedback is empty"):
        revise_request(store, nothing.id, "  ")
    unknown = minion("revise", "nosuchrun", "more", cwd=repo)
    assert unknown.returncode == 2 and "no run with id" in unknown.stderr
    assert_unchanged(before, fingerprint(repo))
