"""The client side of the fleet: connect, submit a created run as a workflow, follow its
progress, cancel it, and bring its result home.

Progress: the worker signals the run's workflow with slim events (spec.progress_event) in
batches every 0.2 s; the client asks the workflow for the events since the last one it has
(query ``progress``) every ``POLL_S``. The complete event log, the nodes and the end of the
record come back by git with the branch (transport.py), and are stored here, so `minion
list/show/logs` read a fleet run as a local one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import MinionError
from ..redact import redact
from ..runs.events import log_path
from ..runs.model import CheckResult, FleetPlace, RunRecord, Status
from ..runs.store import RunStore
from ..snapshot import FlaggedFile
from . import transport
from .checkpoint import store_nodes, write_resume_checkpoint
from .config import FleetConfig, FleetUnavailable, fleet_config, require_temporalio, run_settings, workflow_id
from .spec import Progress, RunOutcome, RunSpec, progress_event

log = logging.getLogger("minion.fleet.client")

POLL_S = 0.25
CONNECT_TIMEOUT_S = 10.0
QUERY_TIMEOUT_S = 2.0
POLLER_CHECK_S = 3.0  # while a run is queued: does any worker poll its task queue at all?
POLLER_FRESH_S = 90.0  # a worker's long poll lasts up to a minute
TERMINATE_AFTER_S = 1.5  # a cancelled run no worker has taken ends by termination after this long

Listener = Callable[[dict[str, Any]], None]


async def connect(config: FleetConfig):
    require_temporalio()
    from temporalio.client import Client

    try:
        return await asyncio.wait_for(
            Client.connect(config.address, namespace=config.namespace, api_key=config.api_key, tls=config.tls),
            CONNECT_TIMEOUT_S)
    except (RuntimeError, OSError, TimeoutError) as e:
        raise FleetUnavailable(f"the Temporal server at {config.address} (namespace {config.namespace}) cannot be "
                               f"reached: {e}. Start one with `minion fleet dev`, or set temporal_address") from None


async def check_fleet(config: FleetConfig, repo: Path):
    """Before a run is created: the remote is set and answers, and so does the server
    (nothing is left half-created when one is missing). Returns the connected client."""
    remote = config.need_remote()
    client, _ = await asyncio.gather(connect(config), asyncio.to_thread(transport.check_remote, repo, remote))
    return client


def spec_for(record: RunRecord, config: FleetConfig, snapshot_ref: str) -> RunSpec:
    return RunSpec(
        run_id=record.id, workflow_id=workflow_id(record.id), task_queue=config.task_queue,
        snapshot_ref=snapshot_ref, snapshot=record.snapshot or "", base=record.base or record.snapshot or "",
        base_head=record.base_head, branch=record.branch or "", task=record.task, blueprint=record.blueprint,
        model=record.model, settings=run_settings(record.settings),
        anchor=dataclasses.asdict(record.anchor) if record.anchor else None, earlier=record.earlier,
    )


class FleetRun:
    """One run on the fleet, from this client's side."""

    def __init__(self, record: RunRecord, store: RunStore, config: FleetConfig, client: Any = None):
        self.record = record
        self.store = store
        self.config = config
        self.remote = config.need_remote()
        self.workflow_id = workflow_id(record.id)
        self.client: Any = client
        self.worker: str | None = None
        self.fetched_events = b""  # the run's whole event log, as it came home with the branch

    async def submit(self) -> None:
        """Push the snapshot, start the workflow. A failure stores the run as failed. A run
        with recorded nodes is resumed: what came home of it goes up as its checkpoint, and
        a worker continues from there (the engine replays the finished nodes)."""
        from .workflow import WORKFLOW

        try:
            self.client = self.client or await connect(self.config)
            ref = await asyncio.to_thread(transport.push_snapshot, Path(self.record.repo), self.remote,
                                          self.record.id, self.record.snapshot or "")
            spec = spec_for(self.record, self.config, ref)
            if await asyncio.to_thread(self.store.nodes, self.record.id):
                await asyncio.to_thread(write_resume_checkpoint, self.record, self.store, self.remote)
                spec.resume = True
            await self.client.start_workflow(WORKFLOW, spec, id=self.workflow_id, task_queue=self.config.task_queue)
        except MinionError as e:
            await self._failed(str(e))
            raise
        except Exception as e:  # the server refused the workflow
            await self._failed(f"the fleet refused the run: {e}")
            raise MinionError(f"the fleet refused the run: {e}") from None
        # This process follows the run: `minion cancel` sets the flag it polls.
        await asyncio.to_thread(self.store.update, self.record.id, worker_pid=os.getpid(), fleet=self._place())

    async def attach(self) -> None:
        """Follow a run submitted earlier (a restarted client): from now on, from here."""
        self.client = await connect(self.config)
        self.worker = self.record.fleet.worker if self.record.fleet else None
        await asyncio.to_thread(self.store.update, self.record.id, worker_pid=os.getpid(), fleet=self._place())

    def _place(self) -> FleetPlace:
        return FleetPlace(self.workflow_id, self.worker, self.config.run_url(self.workflow_id))

    async def _failed(self, reason: str) -> None:
        await asyncio.to_thread(self.store.finish, self.record.id, status=Status.FAILED,
                                summary=reason.splitlines()[0], error=reason, worker_pid=None)

    async def follow(self, listeners: Sequence[Listener] = ()) -> RunRecord:
        """Until the run ends: its progress to ``listeners``, a cancel request (the store's
        flag) to the workflow; then its result into the user's repository and the store."""
        handle = self.client.get_workflow_handle(self.workflow_id, result_type=RunOutcome)
        result = asyncio.ensure_future(handle.result())
        since, cancelled_at, running, terminated = 0, None, False, False
        queued_since = next_poller_check = time.monotonic()
        nobody = False  # no worker polls the task queue (while the run is queued)
        try:
            while True:
                done = result.done()
                if not running and not done and time.monotonic() >= next_poller_check:
                    next_poller_check = time.monotonic() + POLLER_CHECK_S
                    nobody = await self._say_if_nobody_polls(nobody, listeners, time.monotonic() - queued_since)
                progress = None if nobody and not done else await self._progress(handle, since)
                if progress is not None:
                    for event in progress.events:
                        self._emit(listeners, event)
                    since = progress.total
                    if progress.worker and progress.worker != self.worker:  # claimed (again: a worker was lost)
                        self.worker = progress.worker
                        await asyncio.to_thread(self.store.update, self.record.id, fleet=self._place())
                    if progress.state == "running" and not running:
                        running = True
                        await asyncio.to_thread(self.store.update, self.record.id, status=Status.RUNNING,
                                                summary="")
                if done:
                    break
                if cancelled_at is None:
                    if await asyncio.to_thread(self.store.cancel_requested, self.record.id):
                        cancelled_at = time.monotonic()
                        await handle.cancel()
                elif not running and not terminated and time.monotonic() - cancelled_at > TERMINATE_AFTER_S:
                    # No worker took the cancel (none polls): there is no work to keep anywhere.
                    terminated = True
                    with contextlib.suppress(Exception):
                        await handle.terminate(reason="cancelled before a worker took the run")
                await asyncio.wait([result], timeout=POLL_S)
        except asyncio.CancelledError:
            result.cancel()
            raise
        try:
            outcome = result.result()
        except Exception as e:
            return await self._ended_without_result(e, cancelled_at is not None)
        final = await asyncio.to_thread(self._bring_home, outcome)
        # The last query may have come too late (a closed workflow is queried through a
        # worker's replay, which can time out): the rest of the progress is in the log.
        for line in self.fetched_events.splitlines()[since:]:
            with contextlib.suppress(ValueError):
                self._emit(listeners, progress_event(json.loads(line)))
        return final

    async def _progress(self, handle: Any, since: int) -> Progress | None:
        try:
            return await handle.query("progress", since, result_type=Progress,
                                      rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_S))
        except Exception as e:  # no workflow worker just now: progress waits
            log.debug("progress query failed: %s", e)
            return None

    async def _say_if_nobody_polls(self, said: bool, listeners: Sequence[Listener], waited: float) -> bool:
        """Whether no worker polls the task queue; said once (an event, the run's summary)."""
        nobody = not await self._anyone_polling()
        if nobody and not said:
            message = f"no worker is polling task queue {self.config.task_queue}"
            await asyncio.to_thread(self.store.update, self.record.id, summary=message)
            self._emit(listeners, {"type": "log", "run": self.record.id, "ts": time.time(), "level": "warning",
                                   "message": f"{message} (queued {waited:.0f}s): start `minion worker` "
                                   f"with task_queue = {self.config.task_queue!r}"})
        elif said and not nobody:
            await asyncio.to_thread(self.store.update, self.record.id, summary="")
        return nobody

    async def _anyone_polling(self) -> bool:
        """Whether a worker polled the shared task queue lately (Temporal remembers pollers
        for a few minutes; a live one polls at least once a minute)."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        try:
            answer = await self.client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=self.config.namespace, task_queue=TaskQueue(name=self.config.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), timeout=timedelta(seconds=QUERY_TIMEOUT_S))
        except Exception as e:
            log.debug("describing task queue %s failed: %s", self.config.task_queue, e)
            return True  # not known: say nothing
        now = time.time()
        return any(now - p.last_access_time.ToSeconds() < POLLER_FRESH_S for p in answer.pollers)

    def _emit(self, listeners: Sequence[Listener], event: dict[str, Any]) -> None:
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("run %s: a progress listener failed", self.record.id)

    async def _ended_without_result(self, error: BaseException, cancelled: bool) -> RunRecord:
        reason = _failure_text(error)
        status = Status.CANCELLED if cancelled else Status.FAILED
        await asyncio.to_thread(self.store.finish, self.record.id, status=status,
                                summary="cancelled" if cancelled else reason.splitlines()[0],
                                error=None if cancelled else reason, worker_pid=None)
        return self.store.get(self.record.id)

    def _bring_home(self, outcome: RunOutcome) -> RunRecord:
        repo = Path(self.record.repo)
        problems = []
        ended: dict[str, Any] = {}
        events = b""
        fetched = False  # the branch is in the user's repository
        if outcome.results_ref:
            try:
                branch = self.record.branch if outcome.branch_pushed else None
                files = transport.fetch_outcome(repo, self.remote, self.record.id, branch)
                fetched = branch is not None
                ended = json.loads(files.get("record.json", b"{}"))
                store_nodes(self.store, self.record.id, json.loads(files.get("nodes.json", b"[]")))
                events = self.fetched_events = files.get("events.jsonl", b"")
            except (MinionError, ValueError, OSError) as e:
                problems.append(f"the run's results could not be read: {e}")
        with contextlib.suppress(OSError):
            self._write_log(events, outcome.worker)
        self.worker = outcome.worker
        status = Status(ended.get("status") or outcome.status)
        error = ended.get("error", outcome.error)
        if problems:
            error = "\n".join([*(filter(None, [error])), *problems])
            if status is Status.OK:
                status = Status.FAILED
        self.store.finish(
            self.record.id, status=status, head=outcome.head if fetched else None,
            files=ended.get("files", []) if fetched else [],
            checks=[CheckResult.from_dict(c) for c in ended.get("checks", [])],
            usage=_usage(ended.get("usage")), turns=ended.get("turns", 0),
            summary=ended.get("summary", outcome.summary), error=error, worker_pid=None,
            refused=[FlaggedFile(**r) for r in ended.get("refused", [])],
            sensitive=[FlaggedFile(**s) for s in ended.get("sensitive", [])],
            fleet=self._place(),
        )
        if outcome.results_ref and not problems:  # they are home
            transport.forget_on_remote(repo, self.remote, [outcome.results_ref])
        return self.store.get(self.record.id)

    def _write_log(self, events: bytes, worker: str) -> None:
        """The worker's event log as the run's own, with where it ran (the worker, the
        workflow and its page in the web UI) right after run.start: run.end stays last."""
        where = redact({"ts": round(time.time(), 3), "run": self.record.id, "type": "fleet.run", "worker": worker,
                        "workflow_id": self.workflow_id, "web_ui": self.config.run_url(self.workflow_id)})
        line = json.dumps(where, ensure_ascii=False).encode() + b"\n"
        lines = [e for e in events.splitlines(keepends=True) if not _is_fleet_run(e)]  # a resumed run's earlier one
        at = 1 if lines and b'"run.start"' in lines[0] else 0
        path = log_path(self.record.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join([*lines[:at], line, *lines[at:]]))


def _is_fleet_run(line: bytes) -> bool:
    try:
        return json.loads(line).get("type") == "fleet.run"
    except ValueError:
        return False


def _usage(data: dict[str, Any] | None):
    from ..agent.usage import Usage

    return Usage.from_dict(data or {})


def _failure_text(error: BaseException) -> str:
    """The innermost cause of a workflow failure, as one readable line."""
    parts = []
    current: BaseException | None = error
    while current is not None:
        parts.append(str(current) or type(current).__name__)
        current = getattr(current, "cause", None) or current.__cause__
    return "the fleet run failed: " + ": ".join(p for p in parts if p)


async def run_on_fleet(record: RunRecord, store: RunStore, *, listeners: Sequence[Listener] = (),
                       config: FleetConfig | None = None, client: Any = None) -> RunRecord:
    """Execute a created run on the fleet and wait for it (the CLI's `execute_run`)."""
    run = FleetRun(record, store, config or fleet_config(record.settings), client)
    await run.submit()
    return await run.follow(listeners)

