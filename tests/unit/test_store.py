import os
import subprocess
import threading
import time

import pytest

from minion.errors import MinionError
from minion.runs.store import NodeRecord, RunRecord, RunStore, Status


def record(run_id: str, **kw) -> RunRecord:
    now = time.time()
    return RunRecord(id=run_id, created_at=now, updated_at=now, status=Status.QUEUED, repo="/r",
                     task="t", blueprint="default", model="scripted:x", **kw)


def test_round_trip_and_prefix_lookup(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.create(record("abcd1234", request={"settings": {"a": 1}}))
    store.update("abcd1234", status=Status.OK, files=["a.py"], usage={"cost_usd": 0.5})
    got = store.get("abcd")
    assert got.status is Status.OK and got.files == ["a.py"] and got.request == {"settings": {"a": 1}}


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
