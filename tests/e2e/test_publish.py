"""Publishing: with the user's `push` setting, a run's last node pushes its branch, from
`minion run` and the language server alike; a push that cannot be made is said in the
node and leaves the run's status alone."""

import os
from pathlib import Path

import pytest

from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.gitrepo import run_git, write_files
from support.script import done, replace, text, write_script

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


@pytest.fixture
def pushing():
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "minion" / "config.toml"
    config.write_text(config.read_text() + "push = true\n")


@pytest.fixture
def remote(repo, tmp_path) -> Path:
    bare = tmp_path / "remote.git"
    run_git(tmp_path, "init", "-q", "--bare", str(bare))
    run_git(repo, "remote", "add", "origin", str(bare))
    return bare


async def run_fix(repo, tmp_path):
    store = RunStore()
    model = write_script(tmp_path, [[text("Fix it."), FIX_ADD], done("add() adds.")])
    record = create_run(RunRequest(task="fix add", repo=repo, model=model, flags={"checks": {}}), store)
    final = await execute_run(record.id, store)
    return final, store.nodes(final.id)


async def test_the_last_node_pushes_the_branch(repo, tmp_path, pushing, remote):
    final, nodes = await run_fix(repo, tmp_path)
    assert final.status is Status.OK, final.error
    assert nodes[-1].name == "publish" and nodes[-1].status == "ok", nodes[-1].summary
    assert run_git(remote, "rev-parse", f"refs/heads/{final.branch}") == final.head


async def test_a_branch_on_uncommitted_work_is_not_pushed_and_the_run_still_passes(repo, tmp_path, pushing, remote):
    write_files(repo, {"notes.txt": "never committed\n"})
    final, nodes = await run_fix(repo, tmp_path)
    assert final.status is Status.OK, final.error
    assert nodes[-1].name == "publish" and nodes[-1].status == "failed"
    assert "based on uncommitted work" in nodes[-1].summary
    assert run_git(remote, "branch", "--list") == ""


async def test_without_the_setting_nothing_is_pushed(repo, tmp_path, remote):
    final, nodes = await run_fix(repo, tmp_path)
    assert final.status is Status.OK and "publish" not in [n.name for n in nodes]
    assert run_git(remote, "branch", "--list") == ""
