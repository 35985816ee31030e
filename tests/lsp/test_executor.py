"""The executor's start-up recovery, on a real run store (no worker processes)."""

import asyncio
import os
import subprocess
import time

from minion.config import Settings
from minion.runs.executor import LocalExecutor, worker_log_path
from minion.runs.model import RunRecord, Status
from minion.runs.store import RunStore


def stored(store: RunStore, run_id: str, status: Status, worker_pid: int | None, **settings) -> RunRecord:
    now = time.time()
    record = RunRecord(run_id, now, now, status, "/nowhere", "task", "default", "scripted:x", worker_pid=worker_pid,
                       settings=Settings(**settings))
    store.create(record)
    return record


async def test_recovery_watches_live_runs_and_marks_the_others_lost_with_the_reason():
    store = RunStore()
    gone = _exited_pid()
    worker_log_path("dead").write_text("Traceback (most recent call last):\nMemoryError\n")
    records = [
        stored(store, "dead", Status.RUNNING, gone),
        stored(store, "orphan", Status.QUEUED, gone),
        stored(store, "alive", Status.RUNNING, os.getpid()),
        stored(store, "over", Status.OK, None),
        stored(store, "fleet", Status.RUNNING, gone, executor="temporal"),  # its client went; a worker has it
    ]
    ended = []

    async def on_end(run_id):
        ended.append(run_id)

    executor = LocalExecutor(store, limit=lambda: 2, on_event=lambda *_: None, on_end=on_end)
    await executor.recover(records)

    dead = store.get("dead")
    assert dead.status is Status.LOST
    assert f"pid {gone}" in dead.error and dead.error.endswith(": MemoryError")
    assert store.get("orphan").status is Status.LOST
    assert "stopped before it started" in store.get("orphan").error
    assert executor.watched == {"alive", "fleet"} and store.get("over").status is Status.OK

    store.update("alive", status=Status.OK)  # the other process finishes the run
    while not ended:
        await asyncio.sleep(0.1)
    assert ended == ["alive"] and executor.watched == {"fleet"}
    await asyncio.sleep(1.5)  # watched past its client's death, still running
    assert store.get("fleet").status is Status.RUNNING and executor.watched == {"fleet"}
    store.update("fleet", status=Status.OK)  # `minion fleet attach` brought it home
    while len(ended) < 2:
        await asyncio.sleep(0.1)
    assert ended == ["alive", "fleet"]


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
