"""Faults around a run: the state dir's disk is full, or fills while the run works; the
user deletes the repository, or moves its HEAD, while the run works. Each ends with a
clear error (exit 2) or a documented status, and nothing is corrupted: the run store
opens, the log parses, and the user's repository is as the user left it.

The scripted model's `sleep` turn is the window in which the test strikes.
"""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minion.runs.events import log_path, read_events
from minion.errors import StateUnwritable
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git, write_files
from support.script import bash, done, write_script

SLEEP = "sleep 3"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")


def minion(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "minion.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


@pytest.fixture
def small_disk(tmp_path, monkeypatch) -> Path:
    """A 4 MB tmpfs as MINION_STATE_DIR."""
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "minion-test", str(state)], check=True)
    monkeypatch.setenv("MINION_STATE_DIR", str(state))
    yield state
    subprocess.run(["umount", "-l", str(state)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    subprocess.run(["sh", "-c", f"cat /dev/zero > '{filler}'"], capture_output=True)
    assert os.statvfs(disk).f_bavail == 0
    return filler


def snapshot_refs_and_worktrees(repo: Path) -> tuple[str, str]:
    return run_git(repo, "for-each-ref", "refs/minion/snapshots"), run_git(repo, "worktree", "list")


@as_root
def test_a_full_state_dir_ends_minion_run_with_a_clear_error(repo, small_disk, tmp_path):
    write_files(repo, {".minion/config.toml": "checks = {}\n"})
    script = write_script(tmp_path, [[bash("echo hi > made.txt")], done()])
    first = minion("run", "--repo", str(repo), "--model", script, "--json", "first")
    _, stderr = first.communicate()
    assert first.returncode == 0, stderr
    filler = fill(small_disk)
    before, bookkeeping = fingerprint(repo), snapshot_refs_and_worktrees(repo)

    second = minion("run", "--repo", str(repo), "--model", script, "second")
    _, stderr = second.communicate()

    assert second.returncode == 2, stderr
    assert "cannot be written" in stderr and "MINION_STATE_DIR" in stderr and "Traceback" not in stderr
    filler.unlink()
    assert [r.task for r in RunStore().recent()] == ["first"]  # the store opens, as it was
    assert_unchanged(before, fingerprint(repo))
    assert snapshot_refs_and_worktrees(repo) == bookkeeping  # no snapshot without its run


def test_a_run_that_cannot_be_recorded_leaves_no_snapshot(repo, tmp_path, monkeypatch):
    """The disk fills between the snapshot and the run's row."""
    def full(self, record):
        raise StateUnwritable("the run store cannot be written (database or disk is full)")

    monkeypatch.setattr(RunStore, "create", full)
    before, bookkeeping = fingerprint(repo), snapshot_refs_and_worktrees(repo)
    with pytest.raises(StateUnwritable):
        create_run(RunRequest(task="x", repo=repo, model=write_script(tmp_path, [done()])), RunStore())
    assert_unchanged(before, fingerprint(repo))
    assert snapshot_refs_and_worktrees(repo) == bookkeeping


@as_root
def test_a_state_dir_that_fills_while_the_run_works(repo, small_disk, tmp_path):
    script = write_script(tmp_path, [[bash(SLEEP)], [bash("echo hi > made.txt")], done()])
    before = fingerprint(repo)
    run = minion("run", "--repo", str(repo), "--model", script, "--json", "fills up")
    wait_for_event(small_disk / "logs", lambda e: e.get("input") == {"command": SLEEP})
    filler = fill(small_disk)
    _, stderr = run.communicate()

    assert run.returncode == 2, stderr
    assert "cannot be written" in stderr and "Traceback" not in stderr
    filler.unlink()
    (record,) = RunStore().recent()
    assert record.status is Status.RUNNING and read_events(log_path(record.id))  # interrupted; the log parses
    # Documented way on: resume once there is room again.
    resumed = minion("resume", record.id, "--json")
    _, stderr = resumed.communicate()
    assert resumed.returncode in (0, 1), stderr
    assert not RunStore().get(record.id).status.active
    assert_unchanged(before, fingerprint(repo))


def wait_for_event(logs: Path, match, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(match(e) for log in logs.glob("*.jsonl") for e in read_events(log)):
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


async def run_with_a_window(repo: Path, tmp_path: Path, strike) -> tuple:
    """A run whose agent edits a file, then sleeps; ``strike()`` runs during the sleep."""
    script = write_script(tmp_path, [[bash("echo edited > calc/edited.txt")], [bash(SLEEP)], done()])
    store = RunStore()
    record = create_run(RunRequest(task="edit", repo=repo, model=script, flags={"checks": {}}), store)
    sleeping = asyncio.Event()

    def listen(event):
        if event["type"] == "agent.tool" and event["input"] == {"command": SLEEP}:
            sleeping.set()

    task = asyncio.ensure_future(execute_run(record.id, store, listeners=[listen]))
    await asyncio.wait_for(sleeping.wait(), 30)
    strike()
    return await task


async def test_the_repo_deleted_while_the_run_works_ends_lost(repo, tmp_path):
    final = await run_with_a_window(repo, tmp_path, lambda: shutil.rmtree(repo))

    assert final.status is Status.LOST
    assert f"the repository {repo} was deleted" in final.summary and final.worktree in final.summary
    assert (Path(final.worktree) / "calc/edited.txt").read_text() == "edited\n"  # the work is not thrown away
    assert read_events(log_path(final.id))[-1]["type"] == "run.end"


async def test_the_users_head_moved_while_the_run_works(repo, tmp_path):
    moved = {}

    def move_head():
        write_files(repo, {"user.txt": "the user's own work\n"})
        run_git(repo, "add", "user.txt")
        run_git(repo, "commit", "-qm", "the user's commit")
        run_git(repo, "checkout", "-qb", "feature")
        moved["head"] = run_git(repo, "rev-parse", "HEAD")
        moved["fingerprint"] = fingerprint(repo)

    final = await run_with_a_window(repo, tmp_path, move_head)

    assert final.status is Status.OK, final.error
    assert run_git(repo, "symbolic-ref", "HEAD") == "refs/heads/feature"
    assert run_git(repo, "rev-parse", "HEAD", "main").split() == [moved["head"]] * 2
    assert_unchanged(moved["fingerprint"], fingerprint(repo))
    assert run_git(repo, "show", f"{final.branch}:calc/edited.txt") == "edited"
    assert run_git(repo, "rev-parse", f"{final.branch}~1") == final.base  # on top of the snapshot
