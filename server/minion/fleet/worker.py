"""``minion worker``: one machine of the fleet.

It polls the shared task queue for run workflows and claims (one claim at a time, and
only while it has a free slot, so runs spread over the workers that have room), and its
own task queue for the runs it claimed. A claimed run executes exactly as a local one:
the snapshot is fetched from the fleet remote into the worker's warm mirror, checked out
as a worktree (the local executor's pool), recorded in the worker's own run store and
executed by the engine's worker process (``python -m minion.engine.worker``), with the
same sandbox, caps and model settings. Its events go to the workflow as signals (a slim
projection: no tool inputs or outputs); its branch and its results go back by git.

The model's API key is the worker's (its environment): the engine reads it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from ..config import Settings, load_settings
from ..context import Anchor
from ..errors import MinionError
from ..git import git
from ..runs.events import log_path
from ..runs.executor import CANCEL_GRACE_S, EVENT_LINE_LIMIT, death_reason, worker_log_path
from ..runs.model import RunRecord, Status
from ..runs.store import RunNotFound, RunStore
from ..snapshot import snapshot_at, snapshot_ref
from ..state import worktrees_dir
from ..worktrees import Pool, remove_worktree
from . import transport
from .checkpoint import nodes_json, restore_checkpoint
from .client import connect
from .config import FleetConfig, mirror_dir, worker_settings
from .spec import CHECKPOINTS, HANDOVER, SNAPSHOTS, Claim, ExecuteInput, RunOutcome, RunSpec, progress_event
from .workflow import CLAIM, EXECUTE, MinionRun

log = logging.getLogger("minion.fleet.worker")

HEARTBEAT_S = 0.3  # a cancel reaches the activity with the answer to a heartbeat
SIGNAL_EVERY_S = 0.2  # progress events are sent to the workflow this often
RESERVATION_S = 60.0  # a claimed slot waits this long for its run
CONFIRM_TRIES = 30  # a second apart: how long a finished run waits for Temporal to say it is still this worker's


@dataclass
class Activities:
    """A worker's two activities: claiming a run, and executing it."""

    client: Client
    config: FleetConfig
    name: str
    own_queue: str  # the worker's own task queue: the runs it claimed come there
    max_runs: int
    active: set[str] = field(default_factory=set)  # runs executing here
    reserved: dict[str, float] = field(default_factory=dict)  # runs claimed, not started yet
    store: RunStore = field(default_factory=RunStore)
    own_settings: Settings = field(default_factory=load_settings)  # this machine's user config
    cleanups: set[asyncio.Future] = field(default_factory=set)  # after runs that ended

    @property
    def remote(self) -> str:
        return self.config.need_remote()

    def busy(self) -> int:
        now = time.monotonic()
        self.reserved = {k: t for k, t in self.reserved.items() if now - t < RESERVATION_S}
        return len(self.active) + len(self.reserved)

    @activity.defn(name=CLAIM)
    async def claim(self, run_id: str) -> Claim:
        """Wait for a free slot here, then take the run (its activities come to our queue)."""
        while self.busy() >= self.max_runs:
            activity.heartbeat()
            await asyncio.sleep(0.3)
        self.reserved[run_id] = time.monotonic()
        return Claim(worker=self.name, queue=self.own_queue)

    @activity.defn(name=EXECUTE)
    async def execute(self, given: ExecuteInput) -> RunOutcome:
        spec = given.spec
        self.reserved.pop(spec.run_id, None)
        self.active.add(spec.run_id)
        sender = _EventSender(self.client, spec.workflow_id)
        beat = asyncio.ensure_future(_heartbeat())
        try:
            return await self._execute(given, sender)
        finally:
            beat.cancel()
            self.active.discard(spec.run_id)

    async def _execute(self, given: ExecuteInput, sender: _EventSender) -> RunOutcome:
        spec = given.spec
        sender.add({"type": "fleet.claimed", "run": spec.run_id, "ts": time.time(), "worker": self.name})
        try:
            record, replayed = await asyncio.to_thread(self._prepare, spec, given.attempt)
        except MinionError as e:
            reason = f"worker {self.name} could not prepare the run: {e}"
            sender.add({"type": "log", "run": spec.run_id, "ts": time.time(), "level": "error", "message": reason})
            await sender.flush()
            return RunOutcome(status=Status.FAILED.value, head=None, summary=reason.splitlines()[0],
                              worker=self.name, results_ref=None, error=reason)
        if replayed:
            sender.add({"type": "log", "run": spec.run_id, "ts": time.time(), "level": "warning",
                        "message": f"worker {self.name} continues the run from its checkpoint after {replayed} "
                        "finished nodes"})
        process = await _start_engine(record.id, self.remote)
        reader = asyncio.ensure_future(_read_events(process, sender))
        flusher = asyncio.ensure_future(sender.run())
        try:
            try:
                await asyncio.shield(reader)
            except asyncio.CancelledError:
                if activity.is_worker_shutdown():  # give the run back: another worker continues it
                    await self._hand_over(process, reader)
                details = activity.cancellation_details()
                if details and (details.timed_out or details.not_found):
                    await self._give_up(record, process, reader)
                # the workflow was cancelled: stop, keep the work
                await asyncio.to_thread(self.store.request_cancel, record.id)
                killer = asyncio.get_running_loop().call_later(CANCEL_GRACE_S, _kill, process)
                try:
                    await reader
                finally:
                    killer.cancel()
            code = await process.wait()
        finally:
            flusher.cancel()
        final = await asyncio.to_thread(self._conclude, record.id, code)
        if not await self._still_ours(spec.workflow_id):
            await self._give_up(final)
        outcome = await asyncio.to_thread(self._send_back, final)
        await sender.flush()
        cleanup = asyncio.ensure_future(asyncio.to_thread(self._clean_up, final, outcome.results_ref is not None))
        self.cleanups.add(cleanup)  # off the run's way home; kept until done
        cleanup.add_done_callback(self.cleanups.discard)
        return outcome

    async def _hand_over(self, process: asyncio.subprocess.Process, reader: asyncio.Future) -> NoReturn:
        """This worker is shutting down: its engine stops at once (the run's last checkpoint
        is on the fleet remote) and the run goes back to the workflow for another worker."""
        _kill(process)
        with contextlib.suppress(Exception):
            await reader
        await process.wait()
        raise ApplicationError(f"worker {self.name} is shutting down", type=HANDOVER, non_retryable=True)

    async def _still_ours(self, workflow_id: str) -> bool:
        """Whether this execute activity is still the run's current one, asked right before
        the run's branch is pushed: a worker cut off from Temporal past the heartbeat timeout
        has lost the run to another worker, and must not overwrite that one's branch. (The
        time between this answer and the push is not fenced.)"""
        mine = activity.info().activity_id
        for _ in range(CONFIRM_TRIES):
            try:
                described = await self.client.get_workflow_handle(workflow_id).describe()
            except Exception as e:  # Temporal unreachable just now
                log.warning("asking Temporal whether run %s is still ours failed: %s", workflow_id, e)
                await asyncio.sleep(1.0)
                continue
            return any(p.activity_id == mine for p in described.raw_description.pending_activities)
        return False

    async def _give_up(self, record: RunRecord, process: asyncio.subprocess.Process | None = None,
                       reader: asyncio.Future | None = None) -> NoReturn:
        """This worker lost the run: another one has it now. Its engine stops, and nothing
        of this attempt is pushed (no branch, no results)."""
        if process is not None and reader is not None:
            _kill(process)
            with contextlib.suppress(Exception):
                await reader
            await process.wait()
        reason = (f"worker {self.name} lost the run to another worker (cut off from Temporal past the heartbeat "
                  "timeout): it pushed nothing")
        log.warning("run %s: %s", record.id, reason)
        await asyncio.to_thread(self.store.update, record.id, status=Status.LOST, summary=reason, error=reason,
                                worker_pid=None)
        await asyncio.to_thread(self._clean_up, record, False)
        raise ApplicationError(reason, non_retryable=True)

    # the steps, in threads (git and SQLite block)

    def _prepare(self, spec: RunSpec, attempt: int) -> tuple[RunRecord, int]:
        """The run in this worker's store, its worktree ready: at its snapshot, or at its
        last checkpoint when an earlier worker was lost (then: how many nodes it holds)."""
        existing: RunRecord | None = None
        with contextlib.suppress(RunNotFound):
            existing = self.store.get(spec.run_id)
        from_checkpoint = bool(attempt or spec.resume)  # a worker was lost, or the client resumes the run
        if existing is not None and not from_checkpoint:
            raise MinionError(f"run {spec.run_id} already ran on this worker ({existing.status.value})")
        mirror = transport.ensure_mirror(mirror_dir(self.remote))
        if existing is not None:  # it ran here before: start again from the checkpoint
            self._forget(existing, mirror)
        transport.fetch_snapshot(mirror, self.remote, spec.run_id, spec.snapshot)
        checkpoint = transport.fetch_checkpoint(mirror, self.remote, spec.run_id) if from_checkpoint else None
        settings = worker_settings(dict(spec.settings), self.own_settings)
        with transport.fetch_lock(mirror):  # no fetch beside a half-added worktree
            snapshot = snapshot_at(mirror, spec.run_id, spec.snapshot, base_head=spec.base_head,
                                   worktrees_dir=worktrees_dir(), exclude=settings.exclude)
        now = time.time()
        record = RunRecord(
            id=spec.run_id, created_at=now, updated_at=now, status=Status.QUEUED, repo=str(snapshot.repo_root),
            task=spec.task, blueprint=spec.blueprint, model=spec.model, settings=settings,
            anchor=Anchor(**spec.anchor) if spec.anchor else None, base_head=spec.base_head,
            git_common_dir=str(snapshot.git_common_dir), branch=spec.branch, base=spec.base,
            snapshot=snapshot.commit, worktree=str(snapshot.worktree), earlier=spec.earlier,
        )
        if existing is None:
            self.store.create(record)
        else:
            self.store.delete_nodes_from(record.id, 0)
            self.store.update(record.id, status=Status.QUEUED, worktree=record.worktree, settings=settings,
                              head=None, files=[], cancel_requested=False, summary="", error=None, worker_pid=None)
            log_path(record.id).unlink(missing_ok=True)
        return record, restore_checkpoint(record, self.store, checkpoint) if checkpoint else 0

    def _forget(self, earlier: RunRecord, mirror: Path) -> None:
        """What a run (or an earlier attempt of it) left on this worker: its worktree and refs."""
        if earlier.worktree:
            remove_worktree(Path(earlier.worktree), mirror)
        for ref in (snapshot_ref(earlier.id), CHECKPOINTS + earlier.id):
            git("update-ref", "-d", ref, cwd=mirror, check=False)
        if earlier.branch:  # as the run left it: a later run of the branch may have moved it
            git("update-ref", "-d", f"refs/heads/{earlier.branch}", *([earlier.head] if earlier.head else []),
                cwd=mirror, check=False)

    def _clean_up(self, record: RunRecord, results_pushed: bool) -> None:
        """A run that ended and went back: its snapshot and checkpoint refs on the fleet
        remote (once its results are there: nobody needs them then), and all it left here.
        The worker's run store keeps its record."""
        mirror = Path(record.repo)
        try:
            if results_pushed:
                transport.forget_on_remote(mirror, self.remote, [SNAPSHOTS + record.id, CHECKPOINTS + record.id])
            self._forget(record, mirror)
            self.store.update(record.id, worktree=None)
        except Exception:  # space, not correctness: `minion clean` on the worker does the rest
            log.exception("cleaning up after run %s failed", record.id)
        if self.own_settings.warm and record.snapshot:
            self._warm(mirror, record.snapshot)

    def _warm(self, mirror: Path, commit: str) -> None:
        """Fill the mirror's worktree pool (the local executor's) at ``commit``: the next
        run, most likely of the same repository, takes a worktree from it and checks out
        only what differs from its own snapshot (the pool fills at the mirror's HEAD, which
        is detached there: the mirror has no checkout of its own)."""
        try:
            git("update-ref", "--no-deref", "HEAD", commit, cwd=mirror)
            Pool(mirror).fill(self.own_settings.pool_size, self.own_settings.pool_disk_mb)
        except Exception:  # speed, not correctness: the next run checks out in full
            log.exception("filling the worktree pool of %s failed", mirror)

    def _conclude(self, run_id: str, code: int) -> RunRecord:
        record = self.store.get(run_id)
        if record.status.active:  # the engine's process died before the run ended
            what = f"the engine process exited with code {code} before the run ended"
            reason = death_reason(run_id, what)
            status = Status.CANCELLED if record.cancel_requested else Status.LOST
            self.store.update(run_id, status=status, summary=reason, error=reason, worker_pid=None)
            record = self.store.get(run_id)
        return record

    def _send_back(self, record: RunRecord) -> RunOutcome:
        branch = record.branch if record.head and record.files and record.branch else None
        try:
            results_ref = transport.push_outcome(Path(record.repo), self.remote, record.id, branch,
                                                 result_files(record, self.store, self.name))
        except MinionError as e:
            return RunOutcome(status=record.status.value, head=record.head, summary=record.summary, worker=self.name,
                              results_ref=None, error=str(e))
        return RunOutcome(status=record.status.value, head=record.head, summary=record.summary, worker=self.name,
                          results_ref=results_ref, branch_pushed=branch is not None, error=record.error)


def result_files(record: RunRecord, store: RunStore, worker: str) -> dict[str, bytes]:
    """What the client stores of a run that ran here: the end of its record, its nodes,
    its event log (the worker's paths stay here)."""
    ended = {
        "status": record.status.value, "head": record.head, "files": record.files,
        "checks": [asdict(c) for c in record.checks], "usage": record.usage.to_dict(), "turns": record.turns,
        "summary": record.summary, "error": record.error,
        "refused": [asdict(r) for r in record.refused], "sensitive": [asdict(s) for s in record.sensitive],
        "worker": worker,
    }
    path = log_path(record.id)
    events = path.read_bytes() if path.exists() else b""
    return {"record.json": transport.as_json(ended), "nodes.json": nodes_json(store, record.id), "events.jsonl": events}


class _EventSender:
    """Progress events to the workflow, in batches (signals)."""

    def __init__(self, client: Client, workflow_id: str):
        self.handle = client.get_workflow_handle(workflow_id)
        self.pending: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()

    def add(self, event: dict[str, Any]) -> None:
        self.pending.append(progress_event(event))

    async def flush(self) -> None:
        async with self.lock:
            if not self.pending:
                return
            batch, self.pending = self.pending, []
            try:
                await self.handle.signal("events", batch)
            except Exception as e:  # progress is best effort: the run's log is the record
                log.warning("sending %d progress events failed: %s", len(batch), e)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SIGNAL_EVERY_S)
            await self.flush()


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_S)


async def _start_engine(run_id: str, remote: str) -> asyncio.subprocess.Process:
    """The engine's own worker process, as the local executor starts it (with checkpoints,
    fleet/engine.py), but in this worker's process group: a worker that dies takes its runs
    with it."""
    with worker_log_path(run_id).open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "minion.fleet.engine", run_id, remote,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            limit=EVENT_LINE_LIMIT,
        )


async def _read_events(process: asyncio.subprocess.Process, sender: _EventSender) -> None:
    assert process.stdout is not None
    while True:
        try:
            line = await process.stdout.readline()
        except ValueError:
            continue
        if not line:
            return
        with contextlib.suppress(json.JSONDecodeError):
            sender.add(json.loads(line))


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def serve(config: FleetConfig, *, name: str, max_runs: int,
                on_ready: Callable[[str], None] = lambda queue: None, stop: asyncio.Event | None = None) -> None:
    """Poll until ``stop`` is set (or forever)."""
    client = await connect(config)
    own_queue = f"{config.task_queue}.worker.{name}"
    acts = Activities(client, config, name, own_queue, max_runs)
    workers = [
        Worker(client, task_queue=config.task_queue, workflows=[MinionRun]),
        Worker(client, task_queue=config.task_queue, activities=[acts.claim], max_concurrent_activities=1),
        # Heartbeats unthrottled (beyond HEARTBEAT_S): a cancel reaches the run within a second.
        Worker(client, task_queue=own_queue, activities=[acts.execute], max_concurrent_activities=max_runs,
               max_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_S),
               default_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_S)),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        on_ready(own_queue)
        await (stop or asyncio.Event()).wait()


def main(config: FleetConfig, *, name: str, max_runs: int) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")

    def ready(queue: str) -> None:
        print(f"minion worker {name}: polling task queue {config.task_queue} (and {queue}) "
              f"at {config.address}, namespace {config.namespace}, up to {max_runs} runs at once",
              file=sys.stderr, flush=True)

    async def run() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, name=name, max_runs=max_runs, on_ready=ready, stop=stop)

    asyncio.run(run())
    return 0

