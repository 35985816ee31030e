"""When the fleet is not all there: a clear outcome, and nothing half-created.

- the Temporal server does not answer: an error at submit, no run, no ref;
- the fleet remote does not answer: the same;
- no worker polls the task queue: the run stays queued and says so;
- a worker cannot fetch the snapshot: the run fails with the worker's reason.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.net import free_port
from support.script import done, write_script

from minion.engine.create import RunRequest, create_run
from minion.fleet.client import run_on_fleet
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.testing import create


def minion(*args: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minion", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def assert_nothing_created(repo, remote, before) -> None:
    assert RunStore().recent() == []
    assert run_git(repo, "for-each-ref", "--format=%(refname)", "refs/minion") == ""
    assert run_git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert run_git(remote, "for-each-ref", "--format=%(refname)") == ""
    assert_unchanged(before, fingerprint(repo))


def fleet_run(repo, tmp_path, env) -> subprocess.CompletedProcess:
    model = write_script(tmp_path, [done("nothing to do")])
    return minion("run", "say hi", "--model", model, "--executor", "temporal", "--json", cwd=repo, env=env)


def test_an_unreachable_temporal_server_fails_the_submit_and_creates_nothing(repo, tmp_path, fleet_remote):
    before = fingerprint(repo)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    ran = fleet_run(repo, tmp_path, {"MINION_TEMPORAL_ADDRESS": address, "MINION_FLEET_REMOTE": str(fleet_remote)})
    elapsed = time.monotonic() - started

    assert ran.returncode == 2, ran.stderr
    assert f"the Temporal server at {address}" in ran.stderr and "cannot be reached" in ran.stderr, ran.stderr
    assert "minion fleet dev" in ran.stderr
    assert json.loads(ran.stdout)["exit_code"] == 2
    assert elapsed < 20, f"the error took {elapsed:.1f}s"
    assert_nothing_created(repo, fleet_remote, before)


def test_an_unreachable_fleet_remote_fails_the_submit_and_creates_nothing(repo, tmp_path, temporal_address):
    before = fingerprint(repo)
    missing = tmp_path / "no such remote.git"
    ran = fleet_run(repo, tmp_path, {"MINION_TEMPORAL_ADDRESS": temporal_address, "MINION_FLEET_REMOTE": str(missing)})

    assert ran.returncode == 2, ran.stderr
    assert f"the fleet remote {missing} cannot be reached" in " ".join(ran.stderr.split()), ran.stderr
    assert RunStore().recent() == []
    assert run_git(repo, "for-each-ref", "--format=%(refname)", "refs/minion") == ""
    assert not missing.exists()
    assert_unchanged(before, fingerprint(repo))


def test_a_fleet_run_without_the_remote_setting_says_which_setting(repo, tmp_path, temporal_address):
    ran = fleet_run(repo, tmp_path, {"MINION_TEMPORAL_ADDRESS": temporal_address, "MINION_FLEET_REMOTE": ""})
    assert ran.returncode == 2 and "fleet_remote" in ran.stderr, ran.stderr
    assert RunStore().recent() == []


def new_run(repo, folder):
    folder.mkdir()
    model = write_script(folder, [[create("note.txt", "hello\n")], done("wrote a note")])
    return create_run(RunRequest(task="write a note", repo=repo, model=model, flags={"checks": {}}), RunStore())


async def test_with_no_worker_polling_the_run_stays_queued_and_says_so(repo, tmp_path, fleet_env):
    store = RunStore()
    record = new_run(repo, tmp_path / "script")
    warned = asyncio.Event()
    messages: list[str] = []

    def on_event(event):
        if event["type"] == "log":
            messages.append(event["message"])
            warned.set()

    run = asyncio.ensure_future(run_on_fleet(record, store, listeners=[on_event]))
    await asyncio.wait_for(warned.wait(), 30)
    queue = fleet_env["MINION_TASK_QUEUE"]
    assert messages[0].startswith(f"no worker is polling task queue {queue}"), messages
    queued = store.get(record.id)
    assert queued.status is Status.QUEUED
    assert queued.summary == f"no worker is polling task queue {queue}"

    started = time.monotonic()
    store.request_cancel(record.id)  # a queued run can still be cancelled
    final = await asyncio.wait_for(run, 30)
    assert final.status is Status.CANCELLED, (final.status, final.error)
    assert time.monotonic() - started < 3
    assert final.head is None and final.files == []


async def test_a_worker_that_cannot_fetch_fails_the_run_with_its_reason(repo, tmp_path, fleet_env, start_worker,
                                                                          fleet_remote):
    # This worker's remote is not the client's: the snapshot is not there.
    elsewhere = tmp_path / "another remote.git"
    run_git(tmp_path, "init", "-q", "--bare", str(elsewhere))
    start_worker("lost", env={"MINION_FLEET_REMOTE": str(elsewhere)})
    store = RunStore()
    record = new_run(repo, tmp_path / "script")
    final = await asyncio.wait_for(run_on_fleet(record, store), 60)

    assert final.status is Status.FAILED
    assert "worker lost could not prepare the run" in (final.error or ""), final.error
    assert f"refs/minion/snapshots/{record.id}" in final.error
    assert final.head is None and final.files == []
