import dataclasses
import json
import os
import sqlite3
import subprocess
import threading
import time
from typing import get_args

import pytest

from minion.agent.loop import AgentStatus
from minion.agent.usage import Usage
from minion.config import Settings
from minion.context import Anchor
from minion.errors import MinionError
from minion.runs.model import CheckResult, FleetPlace, NodeRecord, RunRecord, Status
from minion.snapshot import FlaggedFile
from minion.runs.store import SCHEMA, RunStore


def record(run_id: str, **kw) -> RunRecord:
    now = time.time()
    return RunRecord(id=run_id, created_at=now, updated_at=now, status=Status.QUEUED, repo="/r",
                     task="t", blueprint="default", model="scripted:x", **kw)


def test_round_trip_and_prefix_lookup(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    anchor = Anchor("todo", "a.py", 3, 3, "make it fast")
    store.create(record("abcd1234", settings=Settings(max_turns=7), anchor=anchor, base_head="b" * 40,
                        git_common_dir="/r/.git"))
    check = CheckResult("tests", "pytest", False, 1, "1 failed", 0.5, failures=[{"path": "a.py", "line": 2}])
    store.update("abcd1234", status=Status.OK, files=["a.py"], usage=Usage(10, 2, cost_usd=0.5), turns=3,
                 checks=[check], refused=[FlaggedFile("big.bin", "too large")])
    got = store.get("abcd")
    assert got.status is Status.OK and got.files == ["a.py"] and got.checks == [check]
    assert got.settings == Settings(max_turns=7) and got.anchor == anchor and got.base_head == "b" * 40
    assert got.usage == Usage(10, 2, cost_usd=0.5) and got.turns == 3 and got.git_common_dir == "/r/.git"
    assert got.refused == [FlaggedFile("big.bin", "too large")] and got.snapshot_ref == "refs/minion/snapshots/abcd1234"
    store.claim("abcd1234", Status.OK, settings=Settings(max_turns=9))  # one part of the request, the rest kept
    assert store.get("abcd1234").settings.max_turns == 9 and store.get("abcd1234").anchor == anchor


def test_recent_runs_newest_first_and_of_one_repository(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    one, other = tmp_path / "one", tmp_path / "other"
    (one / "sub").mkdir(parents=True)
    other.mkdir()
    for i, repo in enumerate([one, other, one]):
        store.create(dataclasses.replace(record(f"run{i}"), repo=str(repo.resolve()), created_at=100.0 + i))
    assert [r.id for r in store.recent()] == ["run2", "run1", "run0"]
    assert [r.id for r in store.recent(limit=2)] == ["run2", "run1"]
    assert [r.id for r in store.recent(repo=one)] == ["run2", "run0"]
    assert [r.id for r in store.recent(repo=str(one / "sub" / ".."))] == ["run2", "run0"]  # resolved
    assert [r.id for r in store.recent(repo=other, limit=5)] == ["run1"]
    assert store.recent(repo=tmp_path) == []  # not the runs of the repos below it


def test_a_record_of_an_older_minion_reads_with_defaults(tmp_path):
    """Settings it no longer knows or takes, and checks from before a field existed."""
    store = RunStore(tmp_path / "runs.db")
    store.create(record("old1"))
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("UPDATE runs SET request = ?, checks = ? WHERE id = 'old1'", (
            json.dumps({"settings": {"max_turns": -1, "gone_setting": 1, "network": True}}),
            json.dumps([{"name": "t", "command": "c", "ok": True, "exit_code": 0, "output": "", "duration_s": 1}])))
    got = store.get("old1")
    assert got.settings == Settings(network=True) and got.git_common_dir == "" and got.anchor is None
    assert got.checks == [CheckResult("t", "c", True, 0, "", 1)] and not got.checks[0].preexisting


def test_where_a_fleet_run_ran_is_kept_and_an_older_store_gains_the_column(tmp_path):
    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as db:  # a store from before fleet runs were recorded
        db.executescript(SCHEMA.replace(",\n    fleet TEXT\n", "\n"))
    assert "fleet" not in {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(runs)")}
    store = RunStore(path)
    store.create(record("local1"))
    store.create(record("fleet1", fleet=FleetPlace("minion-run-fleet1")))
    store.update("fleet1", fleet=FleetPlace("minion-run-fleet1", "w2", "http://ui/workflows/minion-run-fleet1"))
    assert store.get("local1").fleet is None
    assert store.get("fleet1").fleet == FleetPlace("minion-run-fleet1", "w2", "http://ui/workflows/minion-run-fleet1")


def test_secrets_never_reach_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-supersecretvalue123")
    store = RunStore(tmp_path / "runs.db")
    store.create(record("r1", summary="key is sk-ant-api03-supersecretvalue123"))
    store.start_node(NodeRecord("r1", 0, "n", "step", "running", time.time()))
    store.finish_node(NodeRecord("r1", 0, "n", "step", "ok", time.time(), time.time(), "used sk-ant-api03-supersecretvalue123"))
    assert b"supersecretvalue" not in (tmp_path / "runs.db").read_bytes()
    wal = tmp_path / "runs.db-wal"
    assert not wal.exists() or b"supersecretvalue" not in wal.read_bytes()


def test_concurrent_writers_lose_nothing(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.create(record("r1"))

    def write_nodes(offset: int):
        for i in range(50):
            node = NodeRecord("r1", offset + i, f"n{offset + i}", "step", "running", time.time())
            store.start_node(node)

    threads = [threading.Thread(target=write_nodes, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.nodes("r1")) == 200


def test_identifiers_are_stored_as_they_are(tmp_path, monkeypatch):
    """A secret-looking env value that is part of a path must not break the run's paths."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "jsmithdev")
    monkeypatch.setenv("DEPLOY_TOKEN", "checkout-area")
    store = RunStore(tmp_path / "runs.db")
    store.create(record("r2", worktree="/srv/checkout-area/wt", branch="minion/x-r2", summary="see checkout-area"))
    got = store.get("r2")
    assert got.worktree == "/srv/checkout-area/wt" and got.branch == "minion/x-r2"
    assert got.summary == "see [REDACTED]"


def test_only_one_racer_claims_a_run(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.create(record("r3"))
    store.update("r3", status=Status.CANCELLED)
    wins = [store.claim("r3", Status.CANCELLED, status=Status.QUEUED) for _ in range(3)]
    assert wins == [True, False, False] and store.get("r3").status is Status.QUEUED


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs for the store")
def test_a_run_records_its_end_on_a_full_disk(tmp_path):
    """The run's commands may overshoot their disk budget between two polls; the store's
    reserve still lets the run record how it ended. A new run, or progress, is refused as
    before (the run is then left interrupted, to resume)."""
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=400", "minion-test", str(disk)], check=True)
    try:
        store = RunStore(disk / "runs.db")
        store.create(record("r1"))
        assert len(list(disk.glob("runs.db.reserve-*"))) == 2
        with (disk / "fill").open("wb") as fill:  # fill the bytes, then the inodes
            with pytest.raises(OSError):
                while True:
                    fill.write(bytes(1 << 20))
                    fill.flush()
        with pytest.raises(OSError):
            for i in range(1000):
                (disk / f"f{i}").touch()
        with pytest.raises(MinionError, match="cannot be written"):
            store.create(record("r2"))  # positive control: the disk is full for the store too
        with pytest.raises(MinionError, match="cannot be written"):
            store.update("r1", summary="progress")  # progress does not touch the reserve
        store.finish("r1", status=Status.FAILED_CHECKS, summary="the end")
        assert store.get("r1").status is Status.FAILED_CHECKS and store.get("r1").summary == "the end"
        assert not list(disk.glob("runs.db.reserve-*"))  # given up for it
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_every_way_an_agent_ends_but_done_is_a_run_status():
    """blueprint/run.py ends the run with the agent's own status: it must be one."""
    endings = [value for part in get_args(AgentStatus) for value in (get_args(part) or (part,))]
    assert "done" in endings and {e for e in endings if e != "done"} <= {s.value for s in Status}


def test_the_rules_of_a_status():
    assert [s for s in Status if s.active] == [Status.QUEUED, Status.RUNNING]
    assert not any(s.resumable for s in (Status.OK, Status.FAILED_CHECKS, Status.FAILED, Status.REFUSED))
    assert Status.CAPPED_COST.resumable and Status.LOST.resumable and Status.RUNNING.resumable
    assert Status.RUNNING.actions(has_changes=True) == ["minion.openReport", "minion.cancel"]
    assert Status.CANCELLED.actions(has_changes=True) == [
        "minion.openReport", "minion.apply", "minion.resume", "minion.discard"]
    assert Status.OK.actions(has_changes=False) == ["minion.openReport", "minion.discard"]
