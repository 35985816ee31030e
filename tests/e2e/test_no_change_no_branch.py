"""A run that ends with no change leaves no branch, whatever its status; one with a change keeps it."""

import asyncio
from pathlib import Path

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done, replace, write_script

from minion.blueprint.registry import Blueprint
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore


def branches(repo) -> list[str]:
    return run_git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/minion/").split()


async def run_script(repo, tmp_path, turns, **flags):
    store = RunStore()
    model = write_script(tmp_path, turns)
    record = create_run(RunRequest(task="tidy up", repo=repo, model=model, flags={"checks": {}, **flags}), store)
    return record, store


async def test_an_ok_run_without_change_and_a_capped_one_leave_no_branch(repo, tmp_path):
    before = fingerprint(repo)
    (tmp_path / "ok").mkdir()
    record, store = await run_script(repo, tmp_path / "ok", [done("Nothing to do.")])
    final = await execute_run(record.id, store)
    assert final.status is Status.OK and final.files == []
    (tmp_path / "capped").mkdir()
    record, store = await run_script(repo, tmp_path / "capped", [[bash("true")], [bash("true")], done()], max_turns=1)
    capped = await execute_run(record.id, store)
    assert capped.status is Status.CAPPED_TURNS and capped.files == []
    assert branches(repo) == []
    assert_unchanged(before, fingerprint(repo))


async def test_a_cancelled_run_without_change_leaves_no_branch(repo, tmp_path):
    before = fingerprint(repo)
    record, store = await run_script(repo, tmp_path, [[bash("sleep 60")], done()])
    running = asyncio.ensure_future(execute_run(record.id, store))
    while not any(e["type"] == "agent.tool" for e in read_events(log_path(record.id))):
        await asyncio.sleep(0.1)
    store.request_cancel(record.id)
    final = await asyncio.wait_for(running, timeout=30)
    assert final.status is Status.CANCELLED and final.files == []
    assert branches(repo) == []
    assert_unchanged(before, fingerprint(repo))


async def test_a_run_with_a_change_keeps_its_branch(repo, tmp_path):
    before = fingerprint(repo)
    record, store = await run_script(
        repo, tmp_path, [[replace("calc/ops.py", "return a - b", "return a + b")], done()])
    final = await execute_run(record.id, store)
    assert final.status is Status.OK and final.files == ["calc/ops.py"]
    assert branches(repo) == [f"refs/heads/{final.branch}"]
    assert run_git(repo, "rev-parse", final.branch) == final.head != final.base
    assert_unchanged(before, fingerprint(repo))


async def test_a_run_whose_changes_cancel_out_leaves_no_branch(repo, tmp_path):
    """Two commits, the second undoing the first: no change in the end, so no branch."""
    before = fingerprint(repo)
    record, store = await run_script(repo, tmp_path, [
        [replace("calc/ops.py", "return a - b", "return a + b")], done("changed"),
    ])

    async def undo_blueprint(run):
        await run.agent("implement", run.task_prompt())
        await run.commit()
        (run.worktree / "calc" / "ops.py").write_text("def add(a, b):\n    return a - b\n")
        await run.commit()

    final = await execute_run(record.id, store, blueprint=Blueprint("undo", "", undo_blueprint, Path(__file__)))
    assert final.status is Status.OK and final.files == []
    assert [n.name for n in store.nodes(final.id)] == ["implement", "commit", "commit"]
    assert branches(repo) == []
    assert_unchanged(before, fingerprint(repo))
