"""Three workers (three "machines"): runs spread over them, a cancel reaches the run on its
worker, and a worker killed mid-run loses the run to another one, from its checkpoint."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done, replace, text, write_script

from minion.engine.create import RunRequest, create_run
from minion.fleet.client import run_on_fleet
from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.testing import create

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


def ran_on(run_id: str) -> str:
    """The worker a run executed on, as the client recorded it in the run's log."""
    [event] = [e for e in read_events(log_path(run_id)) if e["type"] == "fleet.run"]
    return event["worker"]


def new_run(repo, folder, turns, task: str):
    folder.mkdir()
    model = write_script(folder, turns)
    return create_run(RunRequest(task=task, repo=repo, model=model, flags={"checks": {}}), RunStore())


def listen_for(wanted):
    """A progress listener, and the event it sets once ``wanted(event)`` holds."""
    seen = asyncio.Event()

    def listener(event):
        if wanted(event):
            seen.set()

    return listener, seen


RUNS = 20


async def test_twenty_runs_spread_over_three_workers_each_with_its_own_branch(repo, tmp_path, start_worker):
    for name in ("m1", "m2", "m3"):
        start_worker(name, max_runs=2)
    before = fingerprint(repo)
    store = RunStore()
    # Each run outlasts the claims of the first six (a command of a few seconds), so the two
    # slots of each worker fill up: a worker claims only while it has a free slot.
    records = [new_run(repo, tmp_path / f"script {i}", [[bash("sleep 3"), create(f"note{i}.txt", f"run {i}\n")],
                                                        done(f"wrote note {i}")], f"write note {i}")
               for i in range(RUNS)]
    finals = await asyncio.gather(*(run_on_fleet(r, store) for r in records))

    assert [f.status for f in finals] == [Status.OK] * RUNS, [(f.status, f.error) for f in finals]
    assert len({f.branch for f in finals}) == RUNS
    for i, final in enumerate(finals):
        assert final.files == [f"note{i}.txt"]
        assert run_git(repo, "show", f"{final.branch}:note{i}.txt") == f"run {i}"
    per_worker = Counter(ran_on(f.id) for f in finals)
    assert set(per_worker) == {"m1", "m2", "m3"} and min(per_worker.values()) >= 2, per_worker
    assert_unchanged(before, fingerprint(repo))


async def test_a_cancel_from_the_client_ends_the_run_within_3s_with_its_work_pushed(repo, tmp_path, start_worker):
    start_worker("c1")
    before = fingerprint(repo)
    store = RunStore()
    record = new_run(repo, tmp_path / "script", [[text("Fix it."), FIX_ADD], [bash("sleep 120")], done()],
                     "fix add, then wait")
    on_event, sleeping = listen_for(lambda event: event["type"] == "agent.tool" and event.get("tool") == "bash")
    run = asyncio.ensure_future(run_on_fleet(record, store, listeners=[on_event]))
    await asyncio.wait_for(sleeping.wait(), 120)
    await asyncio.sleep(0.5)  # the command is running in the worker's sandbox
    started = time.monotonic()
    store.request_cancel(record.id)  # what `minion cancel` and the editor's cancel do
    final = await run
    elapsed = time.monotonic() - started
    print(f"the cancel took {elapsed:.2f}s")

    assert final.status is Status.CANCELLED, (final.status, final.error)
    assert elapsed < 3, f"the cancel took {elapsed:.1f}s"
    # The work so far is committed, pushed and fetched: the edit made before the cancel.
    assert final.files == ["calc/ops.py"]
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    assert ran_on(record.id) == "c1"
    assert_unchanged(before, fingerprint(repo))


NODES = ["context", "implement", "check: a", "check: b", "commit"]


@pytest.mark.parametrize("when", ["mid-agent", "stopped-mid-agent", "restarted-mid-agent",
                                  "before check: a", "before check: b"])
async def test_a_worker_killed_mid_run_loses_the_run_to_another_worker_from_its_checkpoint(
        repo, tmp_path, start_worker, when):
    """A worker lost in the middle of the agent node, or at each boundary after it (the next
    node has just started): SIGKILLed (its process alone, or all it started, as a machine
    dies), or stopped with SIGTERM (then restarted, the same machine). Another worker, or
    the restarted one, continues from the last checkpoint (the agent from its last turn); no
    finished node or turn runs again; the branch is the uninterrupted run's."""
    first = start_worker("k1")
    before = fingerprint(repo)
    store = RunStore()
    (tmp_path / "script").mkdir()
    model = write_script(tmp_path / "script", [[text("Fix it."), FIX_ADD], [bash("sleep 8")], done("fixed")])
    record = create_run(RunRequest(task="fix add slowly", repo=repo, model=model,
                                   flags={"checks": {"a": "sleep 3", "b": "sleep 3"}, "baseline": False}), store)
    seen: list[dict] = []
    kill_now = asyncio.Event()

    def on_event(event):
        seen.append(event)
        if when.endswith("mid-agent") and event["type"] == "agent.tool" and event.get("tool") == "bash":
            kill_now.set()
        if event["type"] == "node.start" and when == f"before {event.get('name')}":
            kill_now.set()

    run = asyncio.ensure_future(run_on_fleet(record, store, listeners=[on_event]))
    await asyncio.wait_for(kill_now.wait(), 120)
    if when == "mid-agent":
        first.kill_alone()  # SIGKILL of the worker process only: its engine must not go on
        assert _engine_gone(record.id), "the engine of the dead worker is still running"
    elif when in ("stopped-mid-agent", "restarted-mid-agent"):
        first.stop()  # SIGTERM, as systemd stops a worker: it gives the run back at once
        assert _engine_gone(record.id, timeout=0)
    else:
        first.kill()  # SIGKILL of the worker and everything it started, as a machine dies
    second = "k1" if when == "restarted-mid-agent" else "k2"  # restarted: the same name and state dir
    start_worker(second)
    final = await run

    assert final.status is Status.OK, (final.status, final.error)
    assert ran_on(record.id) == second
    assert final.files == ["calc/ops.py"]
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    why = "is shutting down" if when in ("stopped-mid-agent", "restarted-mid-agent") else "stopped answering"
    assert any(e["type"] == "log" and f"worker k1 {why}; the run moves to another worker" in e.get("message", "")
               for e in seen), seen
    started = [e["name"] for e in seen if e["type"] == "node.start"]
    replayed = [e["name"] for e in seen if e["type"] == "node.replayed"]
    tools = [e["tool"] for e in seen if e["type"] == "agent.tool"]
    turns = [e["turn"] for e in seen if e["type"] == "agent.turn"]
    cut = "implement" if when.endswith("mid-agent") else when.removeprefix("before ")
    assert replayed == NODES[:NODES.index(cut)], seen  # the finished nodes are replayed ...
    assert {node: started.count(node) for node in NODES} == {node: 2 if node == cut else 1 for node in NODES}, started
    if cut == "implement":  # ... and the agent goes on after its last turn: turn 1's edit is not made again
        assert any(e["type"] == "log" and "the agent continues after turn 1 of this node" in e["message"]
                   for e in seen), seen
        assert tools == ["str_replace_based_edit_tool", "bash", "bash"], tools
        assert turns == [1, 2, 2, 3], turns
    else:
        assert tools == ["str_replace_based_edit_tool", "bash"] and turns == [1, 2, 3], (tools, turns)
    assert [n.name for n in store.nodes(record.id)] == NODES
    assert final.turns == 3  # the turns of the lost attempt that the checkpoint kept are counted once
    assert_unchanged(before, fingerprint(repo))


def _engine_gone(run_id: str, timeout: float = 5.0) -> bool:
    """No process runs `minion.fleet.engine RUN_ID` (any more)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = False
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"minion.fleet.engine" in argv and run_id.encode() in argv:
                alive = True
                break
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


async def test_a_cancelled_fleet_run_resumes_and_is_revised_on_the_fleet(repo, tmp_path, start_worker, fleet_remote):
    """`minion resume` of a fleet run: a worker continues it from what came home of it (its
    branch, nodes and log): the finished nodes are replayed, the cancelled one runs again,
    and the fleet remote keeps only the branch afterwards. `minion revise` of it runs the
    next round on the fleet too, on top of the same branch."""
    start_worker("r1")
    before = fingerprint(repo)
    store = RunStore()
    (tmp_path / "script").mkdir()
    model = write_script(tmp_path / "script", [[text("Fix it."), FIX_ADD], done("fixed")])
    record = create_run(RunRequest(task="fix add, check slowly", repo=repo, model=model,
                                   flags={"checks": {"slow": "sleep 3"}, "baseline": False, "executor": "temporal"}),
                        store)
    assert record.worktree is None  # the client checks nothing out: the worker does
    on_event, checking = listen_for(lambda event: event["type"] == "node.start" and event.get("name") == "check: slow")
    run = asyncio.ensure_future(run_on_fleet(record, store, listeners=[on_event]))
    await asyncio.wait_for(checking.wait(), 120)
    store.request_cancel(record.id)
    cancelled = await run
    assert cancelled.status is Status.CANCELLED and cancelled.files == ["calc/ops.py"], cancelled

    resumed = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "minion", "resume", record.id, "--json"],
                                      cwd=repo, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr and "on the fleet" in resumed.stderr
    final = store.get(record.id)
    assert final.status is Status.OK and final.fleet and final.fleet.worker == "r1", (final.status, final.error)
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    events = list(read_events(log_path(record.id)))
    replayed = [e["name"] for e in events if e["type"] == "node.replayed"]
    started = [e["name"] for e in events if e["type"] == "node.start"]
    assert replayed == ["context", "implement"], events
    assert started.count("implement") == 1 and started.count("check: slow") == 2, started
    assert ran_on(record.id) == "r1"  # one fleet.run event, the last attempt's
    assert [n.name for n in store.nodes(record.id)] == ["context", "implement", "check: slow", "commit"]
    deadline = time.monotonic() + 20  # the worker cleans up once the result went back
    while run_git(fleet_remote, "for-each-ref", "--format=%(refname)") != f"refs/heads/{final.branch}":
        assert time.monotonic() < deadline, run_git(fleet_remote, "for-each-ref", "--format=%(refname)")
        time.sleep(0.2)
    assert_unchanged(before, fingerprint(repo))

    (tmp_path / "round 2").mkdir()
    feedback = write_script(tmp_path / "round 2", [[text("Add a note."), create("NOTES.md", "add adds\n")],
                                                  done("noted")])
    revised = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "minion", "revise", record.id, "note what add does", "--model",
                         feedback, "--json"], cwd=repo, capture_output=True, text=True, timeout=240)
    assert revised.returncode == 0, revised.stderr
    second = store.get(json.loads(revised.stdout)["id"])
    assert second.status is Status.OK and second.fleet and second.fleet.worker == "r1", (second.status, second.error)
    assert second.branch == final.branch and second.revises == record.id
    assert run_git(repo, "rev-parse", f"{second.head}^") == final.head  # one commit per round, on the same branch
    assert run_git(repo, "show", f"{second.branch}:NOTES.md") == "add adds"
    assert "return a + b" in run_git(repo, "show", f"{second.branch}:calc/ops.py")
    assert_unchanged(before, fingerprint(repo))


async def test_a_worker_cut_off_past_the_heartbeat_timeout_pushes_nothing_when_it_comes_back(
        repo, tmp_path, start_worker, fleet_remote):
    """The fence: a worker that comes back after losing its run to another (frozen past
    the heartbeat timeout, then thawed) stops its engine and pushes nothing: the branch on
    the fleet remote and in the user's repository is the other worker's."""
    first = start_worker("f1")
    record = new_run(repo, tmp_path / "script", [[text("Fix it."), FIX_ADD], [bash("sleep 4")], done("fixed")],
                     "fix add, then wait")
    store = RunStore()
    frozen, moved = asyncio.Event(), asyncio.Event()

    def on_event(event):
        if event["type"] == "agent.tool" and event.get("tool") == "bash":
            frozen.set()
        if event["type"] == "fleet.claimed" and event.get("worker") == "f2":
            moved.set()

    run = asyncio.ensure_future(run_on_fleet(record, store, listeners=[on_event]))
    await asyncio.wait_for(frozen.wait(), 120)
    first.freeze()
    start_worker("f2")
    await asyncio.wait_for(moved.wait(), 90)  # a claim given to f1's frozen poll times out first
    final = await run
    assert final.status is Status.OK and ran_on(record.id) == "f2", (final.status, final.error)
    first.thaw()  # it comes back after f2 pushed: unfenced, its push of the work it had would win

    def remote_branch() -> str:
        return run_git(fleet_remote, "rev-parse", f"refs/heads/{final.branch}")

    on_first = RunStore(first.state / "runs.db")
    deadline = time.monotonic() + 120  # f1 learns it lost the run at its next heartbeat, or before it pushes
    while on_first.get(record.id).status.active:
        assert time.monotonic() < deadline, first.log.read_text(errors="replace")
        await asyncio.sleep(0.2)
    assert _engine_gone(record.id)
    await asyncio.sleep(2)  # what it would push, it has pushed by now
    assert remote_branch() == final.head, "the worker that lost the run pushed over the branch"
    assert run_git(repo, "rev-parse", f"refs/heads/{final.branch}") == final.head
    assert on_first.get(record.id).status is Status.LOST
    assert "lost the run to another worker" in first.log.read_text(errors="replace")
