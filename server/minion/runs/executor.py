"""Where runs execute: the Executor interface, and LocalExecutor, one worker process per
run on this machine, at most ``limit()`` at a time.

Runs beyond the limit wait in a queue (their stored status stays ``queued``). Each worker
is ``python -m minion.engine.worker RUN_ID`` in its own session: it streams its events as
JSON lines on stdout and its stderr goes to ``<state>/logs/<id>.worker.log``. Nothing
here waits synchronously: processes are asyncio subprocesses and store calls run in
threads.

A worker that dies before its run reached an end state (a crash, the OOM killer, a
``kill -9``) is detected when its stdout closes; the run is then stored as ``lost`` with
the reason (the signal or exit code and the last line of its stderr). Workers outlive the
server on purpose: a restarted server finds them in the store and watches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..state import logs_dir
from .model import RunRecord, Status
from .store import RunStore

log = logging.getLogger("minion.runs.executor")

CANCEL_GRACE_S = 10.0  # a cancelled worker gets this long to commit its work and end
WATCH_POLL_S = 1.0  # how often the store is read for runs another process executes
EVENT_LINE_LIMIT = 16 * 1024 * 1024  # an event carries tool inputs, e.g. a whole new file

EventHandler = Callable[[str, dict[str, Any]], None]  # (run id, event)
EndHandler = Callable[[str], Awaitable[None]]  # (run id), once the run is no longer active here


class Executor(ABC):
    """Executes created runs somewhere, and tells ``on_event`` each event of a run as it
    happens and ``on_end`` when it is no longer active. The store stays the record of how
    each run ended, wherever it executed."""

    def __init__(self, store: RunStore, *, on_event: EventHandler, on_end: EndHandler):
        self.store = store
        self.on_event = on_event
        self.on_end = on_end
        self.watched: set[str] = set()  # runs something else executes, followed here

    @abstractmethod
    def submit(self, run_id: str) -> Status:
        """Start a created (or resumed) run, or queue it: RUNNING or QUEUED."""

    @abstractmethod
    async def cancel(self, run_id: str) -> Status | None:
        """Stop a run: CANCELLED at once, RUNNING while it winds down, None when it is not
        active here."""

    @abstractmethod
    def active_ids(self) -> list[str]:
        """The runs active here: running, queued or watched."""

    @abstractmethod
    async def recover(self, records: list[RunRecord]) -> None:
        """At start-up: follow the active runs of ``records`` that still execute, and store
        the others as ended."""

    @abstractmethod
    def watch(self, run_id: str) -> None:
        """Follow a run that something else executes, until it ends."""


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_fleet(record: RunRecord) -> bool:
    """A run a fleet worker executes: it goes on when the process that submitted it (its
    `worker_pid` here) is gone, and `minion fleet attach` brings its result home."""
    return record.settings.executor == "temporal"


def worker_log_path(run_id: str) -> Path:
    return logs_dir() / f"{run_id}.worker.log"


@dataclass
class _Worker:
    run_id: str
    process: asyncio.subprocess.Process | None = None  # None while it starts
    killer: asyncio.TimerHandle | None = field(default=None, repr=False)


class LocalExecutor(Executor):
    def __init__(
        self, store: RunStore, *, limit: Callable[[], int], on_event: EventHandler, on_end: EndHandler
    ):
        super().__init__(store, on_event=on_event, on_end=on_end)
        self.limit = limit
        self.queue: list[str] = []
        self.workers: dict[str, _Worker] = {}
        self._tasks: set[asyncio.Task] = set()  # strong references to running tasks

    # what runs where

    def active_ids(self) -> list[str]:
        return [*self.workers, *self.queue, *self.watched]

    def worker_pid(self, run_id: str) -> int | None:
        worker = self.workers.get(run_id)
        return worker.process.pid if worker and worker.process else None

    # starting

    def submit(self, run_id: str) -> Status:
        """Queue a created run; it starts as soon as a slot is free."""
        self.queue.append(run_id)
        self._fill_slots()
        return Status.RUNNING if run_id in self.workers else Status.QUEUED

    def _fill_slots(self) -> None:
        while self.queue and len(self.workers) < self.limit():
            run_id = self.queue.pop(0)
            self.workers[run_id] = _Worker(run_id)
            self._spawn(self._run_worker(run_id))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_worker(self, run_id: str) -> None:
        try:
            if await asyncio.to_thread(self.store.cancel_requested, run_id):  # e.g. `minion cancel` while queued
                await self._mark_ended(run_id, Status.CANCELLED, "cancelled before it started")
                return
            process = await self._start_process(run_id)
            if process is None:
                return
            self.workers[run_id].process = process
            await self._follow(run_id, process)
        except Exception:  # a bug here must not leave the run active forever
            log.exception("following the worker of run %s failed", run_id)
            await self._mark_ended(run_id, Status.LOST, "minion's server lost track of the worker (see its log)")
        finally:
            worker = self.workers.pop(run_id)
            if worker.killer:
                worker.killer.cancel()
            self._fill_slots()
            await self.on_end(run_id)

    async def _start_process(self, run_id: str) -> asyncio.subprocess.Process | None:
        try:
            with worker_log_path(run_id).open("ab") as stderr:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "minion.engine.worker", run_id,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                    start_new_session=True,  # a signal to the editor's process group spares it
                    limit=EVENT_LINE_LIMIT,
                )
        except OSError as e:
            await self._mark_ended(run_id, Status.LOST, f"the worker process could not start: {e}")
            return None

    async def _follow(self, run_id: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # a line beyond the limit: asyncio has dropped it
                log.warning("run %s: an event line was too long and was skipped", run_id)
                continue
            if not line:
                break
            try:
                self.on_event(run_id, json.loads(line))
            except json.JSONDecodeError:
                log.warning("run %s: not an event: %r", run_id, line[:200])
            except Exception:  # showing an event went wrong: the run itself is fine
                log.exception("run %s: handling an event failed", run_id)
        code = await process.wait()
        record = await asyncio.to_thread(self.store.get, run_id)
        if record.status.active:
            await self._worker_died(record, death_reason(run_id, _exit_description(code)))

    async def _worker_died(self, record: RunRecord, reason: str) -> None:
        log.warning("run %s: %s", record.id, reason)
        if record.cancel_requested:
            await self._mark_ended(record.id, Status.CANCELLED, f"cancelled; {reason}")
        else:
            await self._mark_ended(record.id, Status.LOST, reason)

    async def _mark_ended(self, run_id: str, status: Status, reason: str) -> None:
        await asyncio.to_thread(
            self.store.update, run_id, status=status, summary=reason, error=reason, worker_pid=None
        )

    # stopping

    async def cancel(self, run_id: str) -> Status | None:
        """Cancel a run: a queued one at once (CANCELLED); a running one politely, then by
        force (RUNNING until it has wound down). None: the run is not active here."""
        if run_id in self.queue:
            self.queue.remove(run_id)
            await self._mark_ended(run_id, Status.CANCELLED, "cancelled before it started")
            self._spawn(self.on_end(run_id))
            return Status.CANCELLED
        if run_id not in self.workers and run_id not in self.watched:
            return None
        # The worker polls this flag, stops the blueprint and commits the work so far.
        await asyncio.to_thread(self.store.request_cancel, run_id)
        worker = self.workers.get(run_id)
        if worker and worker.killer is None:
            loop = asyncio.get_running_loop()
            worker.killer = loop.call_later(CANCEL_GRACE_S, self._kill, run_id)
        return Status.RUNNING

    def _kill(self, run_id: str) -> None:
        pid = self.worker_pid(run_id)
        if pid is not None:
            log.warning("run %s: the worker ignored the cancel for %gs; killing it", run_id, CANCEL_GRACE_S)
            _killpg(pid)

    # runs this server did not start

    async def recover(self, records: list[RunRecord]) -> None:
        """At start-up: watch active runs whose process is alive, mark the others lost."""
        for record in records:
            if not record.status.active or record.id in self.active_ids():
                continue
            if pid_alive(record.worker_pid) or on_fleet(record):
                self.watch(record.id)
            elif record.status is Status.QUEUED:
                await self._mark_ended(record.id, Status.LOST,
                                       "the minion server that queued it stopped before it started")
            else:
                await self._worker_died(record, death_reason(record.id, _gone_description(record)))

    def watch(self, run_id: str) -> None:
        """Follow a run executed by another process (a CLI run, a previous server's worker)."""
        self.watched.add(run_id)
        self._spawn(self._watch(run_id))

    async def _watch(self, run_id: str) -> None:
        try:
            while True:
                await asyncio.sleep(WATCH_POLL_S)
                record = await asyncio.to_thread(self.store.get, run_id)
                if not record.status.active:
                    break
                if record.worker_pid and not pid_alive(record.worker_pid) and not on_fleet(record):
                    await self._worker_died(record, death_reason(record.id, _gone_description(record)))
                    break
        finally:
            self.watched.discard(run_id)
            await self.on_end(run_id)


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-code}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with code {code} before the run ended"


def _gone_description(record: RunRecord) -> str:
    return f"the worker process (pid {record.worker_pid}) is gone and the run never ended"


def death_reason(run_id: str, what: str) -> str:
    """What happened to a worker, with its last words (the end of its stderr log)."""
    last = last_line(worker_log_path(run_id))
    return f"{what}: {last}" if last else what


def last_line(path: Path, tail_bytes: int = 4096) -> str:
    """The last non-empty line of a log file, or ''."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - tail_bytes))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the worker leads its own session: pgid == pid
