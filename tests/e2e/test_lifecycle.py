"""Cancelling a run keeps its work; `minion clean` removes worktrees but never branches."""

import asyncio
import time

import pytest

from minion.runs.events import log_path, read_events
from minion.runs.cleanup import clean
from minion.errors import MinionError
from minion.engine.create import RunRequest, create_run, prepare_resume
from minion.engine.execute import execute_run
from minion.snapshot import delete_branch
from minion.runs.model import Status
from minion.runs.store import RunStore
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
    assert not run_git(repo, "for-each-ref", f"refs/minion/snapshots/{final.id}")
    assert final.id not in run_git(repo, "worktree", "list")
    assert run_git(repo, "rev-parse", final.branch) == final.head  # the branch stays
    assert any(final.id in line for line in report)
    assert_unchanged(before, fingerprint(repo))

    clean(store, delete_branches=[final.branch])
    assert final.branch not in run_git(repo, "branch", "--list", "minion/*")


async def test_a_branch_the_user_moved_is_never_overwritten(repo, tmp_path):
    """Resume after the user committed on the run's branch: minion stops instead of rewriting it."""
    model = write_script(tmp_path, [[FIX_ADD], done()])
    store = RunStore()
    record = create_run(RunRequest(task="fix", repo=repo, model=model, flags={"checks": {}, "max_turns": 1}), store)
    cancelled = await execute_run(record.id, store)
    assert cancelled.status is Status.CAPPED_TURNS
    # The user reviews the branch and commits a fix-up on it.
    user_commit = run_git(repo, "commit-tree", "-p", cancelled.head, "-m", "my fix-up", f"{cancelled.head}^{{tree}}")
    run_git(repo, "update-ref", f"refs/heads/{cancelled.branch}", user_commit)

    prepare_resume(record.id, store, flags={"max_turns": 5})
    final = await execute_run(record.id, store)
    assert final.status is Status.FAILED and "moved outside minion" in (final.error or final.summary)
    assert run_git(repo, "rev-parse", cancelled.branch) == user_commit


def test_a_checked_out_branch_is_never_deleted(repo):
    run_git(repo, "branch", "minion/mine-1")
    run_git(repo, "checkout", "-q", "minion/mine-1")
    with pytest.raises(MinionError, match="cannot delete"):
        delete_branch(repo, "minion/mine-1")
    with pytest.raises(MinionError, match="only deletes its own"):
        delete_branch(repo, "main")
    assert run_git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "minion/mine-1"
