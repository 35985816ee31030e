"""Cancelling a run keeps its work; `minion clean` removes worktrees but never branches."""

import asyncio
import time

from minion.blueprint.events import read_events
from minion.runs.cleanup import clean
from minion.runs.service import RunRequest, create_run, execute_run, log_path
from minion.runs.store import RunStore, Status
from minion.state import worktrees_dir
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done, replace, write_script

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


async def test_cancel_stops_a_busy_run_promptly_and_commits_its_work(repo, tmp_path):
    before = fingerprint(repo)
    model = write_script(tmp_path, [[FIX_ADD], [bash("sleep 60")], done()])
    store = RunStore()
    record = create_run(RunRequest(task="fix", repo=repo, model=model, flags={"checks": {}}), store)
    running = asyncio.ensure_future(execute_run(record.id, store))
    while not any(e["type"] == "agent.tool" and e["tool"] == "bash" for e in read_events(log_path(record.id))):
        await asyncio.sleep(0.1)
    asked = time.monotonic()
    store.request_cancel(record.id)
    final = await asyncio.wait_for(running, timeout=20)
    assert time.monotonic() - asked < 5
    assert final.status is Status.CANCELLED
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    assert_unchanged(before, fingerprint(repo))


async def test_clean_removes_finished_worktrees_and_keeps_branches(repo, tmp_path):
    model = write_script(tmp_path, [[FIX_ADD], done()])
    store = RunStore()
    record = create_run(RunRequest(task="fix", repo=repo, model=model, flags={"checks": {}}), store)
    final = await execute_run(record.id, store)
    orphan = worktrees_dir() / "orphan123"
    orphan.mkdir()
    before = fingerprint(repo)

    report = clean(store, delete_branches=[])
    assert not (worktrees_dir() / final.id).exists() and not orphan.exists()
    assert final.id not in run_git(repo, "worktree", "list")
    assert run_git(repo, "rev-parse", final.branch) == final.head  # the branch stays
    assert any(final.id in line for line in report)
    assert_unchanged(before, fingerprint(repo))

    clean(store, delete_branches=[final.branch])
    assert final.branch not in run_git(repo, "branch", "--list", "minion/*")
