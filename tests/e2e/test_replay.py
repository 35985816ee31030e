"""Resuming replays the recorded nodes; a blueprint that asks for other nodes than it
recorded stops with an error naming both, never a silent truncation of the record."""

import pytest
from support.driver import drive
from support.gitrepo import write_files
from support.script import PYTEST, bash, done, replace, write_script

from minion.engine.create import RunRequest, create_run, prepare_resume
from minion.engine.execute import execute_run
from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.trust import trust_repo


def add_blueprint(repo, marker, body):
    write_files(repo, {".minion/blueprints/flaky.py": (
        "import asyncio\nfrom pathlib import Path\n\nfrom minion.blueprint import Run, blueprint\n\n"
        f"MARKER = Path({str(marker)!r})\n\n\n"
        "@blueprint('flaky', 'a blueprint under test')\n"
        f"async def flaky(run: Run) -> None:\n{body}"
    )})
    trust_repo(repo)


def start(repo, tmp_path, **flags):
    store = RunStore()
    record = create_run(RunRequest(task="t", repo=repo, blueprint="flaky", model=write_script(tmp_path, []),
                                   flags={"checks": {}, **flags}), store)
    return record, store


async def resume(record, store, **flags):
    prepare_resume(record.id, store, flags=flags)
    return await execute_run(record.id, store)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


async def test_another_node_at_a_recorded_place_is_a_clear_error(repo, tmp_path, marker):
    add_blueprint(repo, marker, (
        "    await run.step('first', lambda: 1)\n"
        "    if MARKER.exists():  # read outside a step: breaks the rule\n"
        "        await run.step('b', lambda: None)\n"
        "    else:\n"
        "        await run.step('c', lambda: None)\n"
        "    await run.step('last', lambda: None)\n"
        "    await run.commit()\n"))
    record, store = start(repo, tmp_path)
    assert drive(record.id, kill_after=1).returncode == -9  # died right after 'c'
    marker.touch()

    final = await resume(record, store)
    assert final.status is Status.FAILED
    assert final.summary.startswith(
        "replay mismatch at node 1: the run recorded step 'c' there, but the blueprint now asks for step 'b'")
    assert "control flow may depend only on the results of earlier nodes" in final.error
    nodes = store.nodes(record.id)
    assert [n.name for n in nodes][:2] == ["first", "c"] and nodes[1].status == "ok"  # the record is kept
    assert final.head  # the work so far is committed all the same


async def test_a_blueprint_that_ends_before_its_recorded_nodes_is_a_clear_error(repo, tmp_path, marker):
    add_blueprint(repo, marker, (
        "    await run.step('first', lambda: 1)\n"
        "    if not MARKER.exists():\n"
        "        await run.step('extra', lambda: None)\n"))
    record, store = start(repo, tmp_path)
    assert drive(record.id, kill_after=1).returncode == -9
    marker.touch()

    final = await resume(record, store)
    assert final.status is Status.FAILED
    assert final.summary.startswith(
        "replay mismatch at node 1: the run recorded step 'extra' there, but the blueprint now ends before it")
    assert [n.name for n in store.nodes(record.id)][:2] == ["first", "extra"]


async def test_a_blueprint_that_catches_the_mismatch_still_fails(repo, tmp_path, marker):
    add_blueprint(repo, marker, (
        "    await run.step('first', lambda: 1)\n"
        "    try:\n"
        "        await run.step('b' if MARKER.exists() else 'c', lambda: None)\n"
        "    except Exception:\n"
        "        pass\n"
        "    await run.commit()\n"))
    record, store = start(repo, tmp_path)
    assert drive(record.id, kill_after=1).returncode == -9
    marker.touch()
    final = await resume(record, store)
    assert final.status is Status.FAILED and final.summary.startswith("replay mismatch at node 1")


async def test_a_decision_made_in_a_step_replays_the_same(repo, tmp_path, marker):
    add_blueprint(repo, marker, (
        "    seen = await run.step('look', MARKER.exists)  # recorded: the rule kept\n"
        "    await run.step('b' if seen else 'c', lambda: None)\n"
        "    await run.step('last', lambda: None)\n"
        "    await run.commit()\n"))
    record, store = start(repo, tmp_path)
    assert drive(record.id, kill_after=1).returncode == -9
    marker.touch()

    final = await resume(record, store)
    assert final.status is Status.OK, final.error
    assert [n.name for n in store.nodes(record.id)] == ["look", "c", "last", "commit"]
    assert [e["seq"] for e in read_events(log_path(record.id)) if e["type"] == "node.replayed"] == [0, 1]


async def test_a_run_stopped_between_nodes_resumes_past_its_closing_commit(repo, tmp_path, marker):
    """The engine's commit of a run that stopped early is no node of the blueprint's: a
    resumed run that gets further replaces it."""
    add_blueprint(repo, marker, (
        "    await run.step('a', lambda: 1)\n"
        "    if not MARKER.exists():\n"
        "        await asyncio.sleep(3600)  # waits outside any node; asks for the same nodes\n"
        "    await run.step('b', lambda: 2)\n"
        "    await run.commit()\n"))
    record, store = start(repo, tmp_path, max_wall_seconds=1)
    stopped = await execute_run(record.id, store)
    assert stopped.status is Status.CAPPED_TIME
    assert [n.name for n in store.nodes(record.id)] == ["a", "commit"]
    marker.touch()

    final = await resume(record, store, max_wall_seconds=60)
    assert final.status is Status.OK, final.error
    assert [n.name for n in store.nodes(record.id)] == ["a", "b", "commit"]
    closing = [e for e in read_events(log_path(record.id)) if e["type"] == "node.start" and e.get("closing")]
    assert [e["seq"] for e in closing] == [1]  # the first attempt's commit, and only that one


async def test_a_resumed_run_runs_the_checks_it_ran_whatever_they_are_now(repo, tmp_path):
    """The checks a batch ran are recorded with it (detection reads the worktree, which the
    earlier attempt changed): its replay asks for the same check nodes; later batches are new."""
    script = [done("Looked."), [replace("calc/ops.py", "return a - b", "return a + b")], done("Fixed.")]
    store = RunStore()
    record = create_run(RunRequest(task="make the tests pass", repo=repo, model=write_script(tmp_path, script),
                                   flags={"checks": {"tests": PYTEST}}), store)
    assert drive(record.id, kill_after=3).returncode == -9  # context, implement, check: tests, repair 1

    final = await resume(record, store, checks={"tests": PYTEST, "lint": "true"})
    assert final.status is Status.OK, final.error
    assert [n.name for n in store.nodes(record.id)] == [
        "context", "implement", "check: tests", "repair 1", "check: tests", "check: lint", "commit"]


async def test_a_repair_round_the_commit_guard_asked_for_replays(repo, tmp_path):
    """Whether the guard would leave a file out is read from the worktree, which the repair
    round changed: while replaying, what the earlier attempt did is on record."""
    script = [[bash("head -c 2M /dev/zero > big.bin")], done("Made it."), [bash("rm big.bin")], done("Gone.")]
    store = RunStore()
    record = create_run(RunRequest(task="t", repo=repo, model=write_script(tmp_path, script),
                                   flags={"checks": {}, "max_commit_file_mb": 1}), store)
    assert drive(record.id, kill_after=2).returncode == -9  # context, implement, repair 1

    final = await resume(record, store)
    assert final.status is Status.OK, final.error
    assert [n.name for n in store.nodes(record.id)] == ["context", "implement", "repair 1", "commit"]
    assert [e["name"] for e in read_events(log_path(record.id)) if e["type"] == "node.replayed"] == [
        "context", "implement", "repair 1"]


async def test_a_run_stopped_while_replaying_keeps_the_record_for_the_next_resume(repo, tmp_path, marker):
    add_blueprint(repo, marker, (
        "    await run.step('a', lambda: 1)\n"
        "    if MARKER.exists():\n"
        "        await asyncio.sleep(3600)  # waits outside any node; asks for the same nodes\n"
        "    await run.step('b', lambda: 2)\n"
        "    await run.commit()\n"))
    record, store = start(repo, tmp_path)
    assert drive(record.id, kill_after=1).returncode == -9  # 'a' and 'b' recorded
    marker.touch()
    stopped = await resume(record, store, max_wall_seconds=1)  # stops between 'a' and 'b', replaying
    assert stopped.status is Status.CAPPED_TIME
    assert [n.name for n in store.nodes(record.id)] == ["a", "b", "commit"]  # its commit went after them
    marker.unlink()

    final = await resume(record, store, max_wall_seconds=60)
    assert final.status is Status.OK, final.error
    assert [n.name for n in store.nodes(record.id)] == ["a", "b", "commit"]
    assert [e["name"] for e in read_events(log_path(record.id)) if e["type"] == "node.replayed"] == ["a", "a", "b"]
