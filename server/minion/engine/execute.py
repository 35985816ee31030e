"""Executing a run: its blueprint in the sandbox, under its caps, to a stored end.

`execute_run` never raises for a run's own failure: it ends with a stored status and the
work so far committed to the run's branch. It runs in a worker process (engine/worker.py)
or in the `minion run` process itself.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from types import FrameType
from typing import Any

from ..agent.models import RecordingModel, model_from_spec
from ..blueprint.nodes import NodeKind, StopRun
from ..blueprint.python_env import find_python_env
from ..blueprint.registry import Blueprint, BlueprintFn, get_blueprint
from ..blueprint.run import Run
from ..blueprint.runtime import Runtime
from ..errors import MinionError, StateUnwritable
from ..git import git
from ..runs.events import EventLog, log_path
from ..runs.model import RunRecord, Status
from ..runs.publish import push_branch
from ..runs.sensitive import sensitive_changes
from ..runs.store import RunStore
from ..snapshot import changed_files
from .create import sandbox_for, snapshot_of

CANCEL_POLL_S = 0.5
HARD_DEADLINE_GRACE_S = 30  # past the cap, code that blocks the event loop is interrupted

async def execute_run(
    run_id: str,
    store: RunStore,
    *,
    listeners: Sequence[Callable[[dict[str, Any]], None]] = (),
    record_to: Path | None = None,
    blueprint: Blueprint | None = None,
) -> RunRecord:
    """Run the blueprint to the end. Never raises for a run's own failure: the status says it.

    ``blueprint``: run this one rather than the record's blueprint found by name (minion.testing)."""
    record = store.get(run_id)
    settings = record.settings
    events = EventLog(log_path(run_id), run_id)
    events.listeners.extend(listeners)
    try:  # what can fail before any work: the run must not stay "running" for it
        snapshot = snapshot_of(record)
        model = model_from_spec(record.model, settings)
        if blueprint is None:
            blueprint = get_blueprint(record.blueprint, snapshot.repo_root)
        python = find_python_env(snapshot.repo_root, settings.python)
    except MinionError as e:
        store.finish(run_id, status=Status.FAILED, summary=str(e).splitlines()[0], error=str(e), worker_pid=None)
        raise
    if record_to:
        model = RecordingModel(model, record_to, repo_path=snapshot.repo_root)
    resumed = bool(store.nodes(run_id))
    store.update(run_id, status=Status.RUNNING, worker_pid=os.getpid())
    events.emit("run.resume" if resumed else "run.start", task=record.task, blueprint=record.blueprint,
                model=record.model, branch=record.branch, repo=record.repo)
    if settings.sandbox == "none":
        events.emit("log", level="warning", message="sandbox = \"none\": commands run UNSANDBOXED on this machine")
    for rel in settings.dependency_dirs:
        if (snapshot.repo_root / rel).is_symlink():
            events.emit("log", level="warning", message=f"the dependency folder {rel} is a link in your repository: "
                        "not shown in the sandbox (only real folders are)")

    run = Runtime(
        run_id=run_id, task=record.task, anchor=record.anchor, branch=record.branch or "", snapshot=snapshot,
        settings=settings, sandbox=sandbox_for(snapshot, settings, python), python=python, model=model,
        store=store, events=events, earlier=record.earlier,
    )
    try:
        status, summary, error = await _drive(run, blueprint.fn, store)
    finally:
        await run.close()
    if run.nodes.mismatch is not None:  # even if the blueprint caught it
        status, summary, error = Status.FAILED, str(run.nodes.mismatch), str(run.nodes.mismatch)

    repo_gone = not snapshot.git_common_dir.is_dir()
    if repo_gone:  # deleted while the run worked: there is no branch to keep the work on
        status, error = Status.LOST, None
        summary = (f"the repository {snapshot.repo_root} was deleted while the run worked; "
                   f"its files are left in {snapshot.worktree}")
    elif status not in (Status.OK, Status.FAILED_CHECKS) or not run.committed:
        # The blueprint stopped early or never committed: keep the work so far on the branch.
        try:
            await run.commit(run.commit_message(status.value), closing=True)
        except Exception as e:  # the repo may be gone; the status must still be stored
            status, error = Status.FAILED, (error or "") + f"\ncommitting the work failed: {e}"
    base = record.base or snapshot.commit  # a revising run's change is its whole branch's
    files = changed_files(snapshot.repo_root, base, run.head) if run.head and not repo_gone else []
    if not files and not repo_gone and run.head:
        _drop_empty_branch(snapshot.repo_root, record, run.head)
    sensitive = (sensitive_changes(snapshot.repo_root, base, run.head, settings.sensitive_paths)
                 if files and run.head else [])
    if settings.push and files:
        await _publish(run, replace(record, head=run.head))
    run.nodes.discard_closing()
    store.finish(
        run_id, status=status, head=run.head, files=files, checks=run.last_checks or [], usage=run.usage,
        turns=run.budget.turns,
        summary=summary, error=error, worker_pid=None, refused=run.refused, sensitive=sensitive,
    )
    events.emit("run.end", status=status.value, branch=record.branch, head=run.head, files=files,
                refused=[asdict(r) for r in run.refused], sensitive=[asdict(s) for s in sensitive],
                usage={**run.usage.to_dict(), "turns": run.budget.turns}, summary=summary, error=error)
    return store.get(run_id)


def _drop_empty_branch(repo_root: Path, record: RunRecord, head: str) -> None:
    """A run that changed nothing leaves no branch (whatever its status): the commit made one
    at the snapshot. Deleted only while it is where the run left it, so a user's commit on it
    stays; a revising run's branch holds the earlier rounds and stays too."""
    if record.revises or not record.branch:
        return
    git("update-ref", "-d", f"refs/heads/{record.branch}", head, cwd=repo_root, check=False)


async def _publish(run: Runtime, record: RunRecord) -> None:
    """The run's last node: push its branch. A push that fails is said in the node, and is
    not the run's failure (the branch is there to push by hand)."""

    async def body() -> dict[str, str | None]:
        try:
            return {"link": await asyncio.to_thread(push_branch, record), "error": None}
        except MinionError as e:  # GitError is one: no remote access, a rejected push…
            run.events.emit("log", level="warning", message=f"pushing {record.branch} failed: {e}")
            return {"link": None, "error": str(e)}

    def summarize(pushed: dict[str, str | None]) -> tuple[str, str]:
        if pushed["error"]:
            return "failed", pushed["error"]
        return "ok", pushed["link"] or f"pushed {record.branch}"

    await run.node("publish", NodeKind("step", summarize), body, closing=True)


class BlueprintError(Exception):
    """The blueprint itself misbehaved (as opposed to the work it drives)."""


class BlockedPastDeadline(TimeoutError):
    """Code blocked the event loop past the wall-clock cap and was interrupted."""


_hard_deadline_armed = False


@contextmanager
def _hard_deadline(seconds: float) -> Iterator[None]:
    """Interrupt code that blocks the event loop (a blueprint spinning in plain Python).

    ``asyncio.timeout`` needs the loop to get control back; a signal handler does not.
    Signals reach only the main thread, so elsewhere this does nothing.
    """
    global _hard_deadline_armed
    if threading.current_thread() is not threading.main_thread() or _hard_deadline_armed:
        yield  # the timer is process-wide: with several runs in one process, the first one owns it
        return
    _hard_deadline_armed = True

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BlockedPastDeadline("the blueprint blocked the event loop past the wall-clock cap")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _hard_deadline_armed = False


async def _call_blueprint(blueprint_fn: Callable[[Run], Awaitable[object]], run: Runtime) -> None:
    returned = await blueprint_fn(Run(run))  # the blueprint sees the facade only
    if returned is not None:
        hint = ""
        if inspect.iscoroutine(returned):
            returned.close()
            hint = " (a missing await?)"
        raise BlueprintError(f"the blueprint returned {type(returned).__name__}{hint}; blueprints return nothing")
    run.nodes.blueprint_returned()  # a resumed run's blueprint asked for every node it recorded


async def _drive(run: Runtime, blueprint_fn: BlueprintFn, store: RunStore) -> tuple[Status, str, str | None]:
    """Run the blueprint under the wall-clock cap, watching for cancel requests."""
    task = asyncio.ensure_future(_call_blueprint(blueprint_fn, run))
    cap = run.settings.max_wall_seconds

    async def watch_cancel() -> None:
        while not task.done():
            await asyncio.sleep(CANCEL_POLL_S)
            if store.cancel_requested(run.id):
                task.cancel()

    watcher = asyncio.ensure_future(watch_cancel())
    wall_clock = asyncio.timeout(cap)
    try:
        with _hard_deadline(cap + HARD_DEADLINE_GRACE_S):
            async with wall_clock:
                await task
        failed = [c.name for c in run.last_checks or [] if c.counts]
        if failed:
            return Status.FAILED_CHECKS, f"checks failed: {', '.join(failed)}", None
        already = [c.name for c in run.last_checks or [] if c.preexisting]
        note = f" ({', '.join(already)} already failing before this run)" if already else ""
        return Status.OK, (run.agent_summary or "done") + note, None
    except StopRun as stop:
        return stop.status, stop.summary, None
    except BlockedPastDeadline:
        run.events.emit("log", level="error", message=traceback.format_exc())
        return Status.CAPPED_TIME, f"stopped: blocked past the wall-clock cap of {cap:g}s", traceback.format_exc()
    except TimeoutError as e:
        if wall_clock.expired():
            return Status.CAPPED_TIME, f"stopped: wall-clock cap of {cap:g}s reached", None
        run.events.emit("log", level="error", message=traceback.format_exc())  # the blueprint's own
        return Status.FAILED, f"{type(e).__name__}: {e}", traceback.format_exc()
    except asyncio.CancelledError:
        if not task.cancelled():
            task.cancel()
        return Status.CANCELLED, "cancelled", None
    except StateUnwritable:
        raise  # not the run's failure: it stays interrupted, to resume once there is room
    except Exception as e:
        run.events.emit("log", level="error", message=traceback.format_exc())
        return Status.FAILED, f"{type(e).__name__}: {e}", traceback.format_exc()
    finally:
        watcher.cancel()
