"""Creating and executing runs: request → snapshot → blueprint in the sandbox → branch.

`create_run` does everything that can fail on bad input (exit 2) before any work starts;
`execute_run` runs the blueprint and always ends with a stored status and the work so far
committed to the run's branch.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..agent.models import RecordingModel, check_model_spec, model_from_spec
from ..blueprint.checks import Detection, detect_checks
from ..blueprint.python_env import PythonEnv, find_python_env
from ..blueprint.repo_map import prefetch as prefetch_map
from ..blueprint.registry import check_blueprint, get_blueprint
from ..blueprint.run import Run, StopRun
from ..config import Settings, load_settings, validate_settings
from ..context import Anchor
from ..errors import MinionError, StateUnwritable
from ..redact import redact_text
from ..sandbox import Limits, Sandbox, SandboxPolicy, build_view, explain
from ..sandbox.mounts import git_mounts
from ..snapshot import Snapshot, changed_files, discard_snapshot, find_repo_root, slugify, take_snapshot
from ..state import homes_dir, worktrees_dir
from .sensitive import sensitive_changes
from .events import EventLog, log_path
from .model import NodeRecord, RunRecord, Status
from .store import RunStore

CANCEL_POLL_S = 0.5
HARD_DEADLINE_GRACE_S = 30  # past the cap, code that blocks the event loop is interrupted


@dataclass
class RunRequest:
    task: str
    repo: Path
    blueprint: str | None = None
    model: str | None = None
    anchor: Anchor | None = None
    buffers: Mapping[str, str] = field(default_factory=dict)
    editor_settings: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)


def create_run(request: RunRequest, store: RunStore, *, prefetch_context: bool = False) -> RunRecord:
    """Validate, snapshot and store a queued run. Raises MinionError on bad input.

    ``prefetch_context``: this process executes the run, so its repo map starts building
    as soon as the snapshot commit exists, beside the worktree's checkout."""
    if not request.task.strip():
        raise MinionError("the task is empty: say what minion should do")
    repo_root = find_repo_root(request.repo)
    flags = {**request.flags, "model": request.model, "blueprint": request.blueprint}
    settings = load_settings(repo_root, editor=request.editor_settings, flags=flags)
    check_blueprint(settings.blueprint, repo_root)
    check_model_spec(settings.model, settings)  # a bad spec or a missing key fails now, not later

    run_id = secrets.token_hex(4)
    with ThreadPoolExecutor(1) as beside:  # the sandbox probe starts a process: not on the critical path
        probe = beside.submit(Sandbox.check_available) if settings.sandbox == "bwrap" else None
        def on_commit(commit: str) -> None:
            if prefetch_context:
                prefetch_map(repo_root, commit, settings, request.task, request.anchor.path if request.anchor else None)

        snapshot = take_snapshot(repo_root, run_id, buffers=request.buffers, worktrees_dir=worktrees_dir(),
                                 exclude=settings.exclude, on_commit=on_commit)
        try:
            if probe:
                probe.result()
        except MinionError:
            discard_snapshot(snapshot)
            raise
    now = time.time()
    record = RunRecord(
        id=run_id,
        created_at=now,
        updated_at=now,
        status=Status.QUEUED,
        repo=str(repo_root),
        task=request.task,
        blueprint=settings.blueprint,
        model=settings.model,
        branch=f"minion/{slugify(redact_text(request.task))}-{run_id}",
        base=snapshot.commit,
        snapshot=snapshot.commit,
        worktree=str(snapshot.worktree),
        settings=settings,
        anchor=request.anchor,
        base_head=snapshot.base_head,
        git_common_dir=str(snapshot.git_common_dir),
    )
    try:
        store.create(record)
    except MinionError:  # the store cannot be written (a full disk): leave nothing behind
        discard_snapshot(snapshot)
        raise
    return record


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


def prepare_resume(run_id: str, store: RunStore, flags: Mapping[str, Any] | None = None) -> RunRecord:
    """Check that a run can continue, apply new caps, and queue it again."""
    record = store.get(run_id)
    if record.status.active and pid_alive(record.worker_pid) and record.worker_pid != os.getpid():
        raise MinionError(f"run {record.id} is still running (worker pid {record.worker_pid}); cancel it first")
    if not record.status.resumable:
        raise MinionError(
            f"run {record.id} ended with status {record.status.value}; only interrupted, cancelled, "
            "capped or stuck runs can resume"
        )
    if not record.git_common_dir or not Path(record.git_common_dir).is_dir():
        reason = f"its repository {record.repo} is gone"
        store.update(record.id, status=Status.LOST, error=reason, worker_pid=None)
        raise MinionError(f"run {record.id} is lost: {reason}")
    if not Path(record.worktree or "").is_dir():
        reason = f"its worktree {record.worktree} is gone, so its work cannot continue"
        store.update(record.id, status=Status.LOST, error=reason, worker_pid=None)
        raise MinionError(f"run {record.id} is lost: {reason}")
    new = {k: v for k, v in (flags or {}).items() if v is not None}
    settings = validate_settings({**record.settings.model_dump(), **new}, dict.fromkeys(new, "command-line flags"))
    if not store.claim(record.id, record.status, status=Status.QUEUED, cancel_requested=False, error=None,
                       settings=settings, worker_pid=os.getpid()):
        raise MinionError(f"run {record.id} was resumed by another minion process just now")
    return store.get(record.id)


def snapshot_of(record: RunRecord) -> Snapshot:
    return Snapshot(
        run_id=record.id,
        repo_root=Path(record.repo),
        git_common_dir=Path(record.git_common_dir),
        base_head=record.base_head,
        commit=record.snapshot or "",
        ref=record.snapshot_ref,
        worktree=Path(record.worktree or ""),
    )


def sandbox_for(snapshot: Snapshot, settings: Settings, python: PythonEnv | None = None) -> Sandbox:
    return Sandbox(policy_for(snapshot.run_id, snapshot.repo_root, snapshot.worktree, settings, python))


def policy_for(run_id: str, repo_root: Path, worktree: Path, settings: Settings,
               python: PythonEnv | None = None) -> SandboxPolicy:
    """What the run's sandbox is asked to be. Its HOME folder is made at the first command."""
    return SandboxPolicy(
        repo_path=repo_root,
        worktree=worktree,
        home=homes_dir() / run_id,
        dependency_dirs=list(settings.dependency_dirs),
        network=settings.network,
        limits=Limits(timeout_s=settings.command_timeout, memory_mb=settings.command_memory_mb),
        mode=settings.sandbox,
        allow=list(settings.sandbox_allow),
        git_history=settings.git_history,
        exclude=list(settings.exclude),
        python_env=python.prefix if python is not None and python.outside_repo else None,
    )


def preview_sandbox(repo: Path, flags: Mapping[str, Any] | None = None) -> str:
    """``minion sandbox explain``: the sandbox a run of ``repo`` would get, as text. Makes
    nothing: no snapshot, no worktree, no HOME."""
    root = find_repo_root(repo)
    settings = load_settings(root, flags={k: v for k, v in (flags or {}).items() if v is not None})
    policy = policy_for("<run>", root, worktrees_dir() / "<run>", settings, find_python_env(root, settings.python))
    git_part, _ = git_mounts(policy, policy.git_store)
    return explain(policy, build_view(policy, git=git_part))


def preview_checks(repo: Path, flags: Mapping[str, Any] | None = None) -> tuple[PythonEnv, Detection, dict | None]:
    """``minion checks``: the interpreter, the detected checks (with why) and the configured
    ones (None: detected), for the repo as it is now. Runs nothing of the repo."""
    root = find_repo_root(repo)
    settings = load_settings(root, flags={k: v for k, v in (flags or {}).items() if v is not None})
    python = find_python_env(root, settings.python)
    return python, detect_checks(root, python, network=settings.network), settings.checks


async def execute_run(
    run_id: str,
    store: RunStore,
    *,
    listeners: list[Callable[[dict[str, Any]], None]] = (),  # type: ignore[assignment]
    record_to: Path | None = None,
) -> RunRecord:
    """Run the blueprint to the end. Never raises for a run's own failure: the status says it."""
    record = store.get(run_id)
    settings = record.settings
    snapshot = snapshot_of(record)
    events = EventLog(log_path(run_id), run_id)
    events.listeners.extend(listeners)
    try:  # what can fail before any work: the run must not stay "running" for it
        model = model_from_spec(record.model, settings)
        blueprint = get_blueprint(record.blueprint, snapshot.repo_root)
        python = find_python_env(snapshot.repo_root, settings.python)
    except MinionError as e:
        store.finish(run_id, status=Status.FAILED, summary=str(e).splitlines()[0], error=str(e), worker_pid=None)
        raise
    if record_to:
        model = RecordingModel(model, record_to, repo_path=snapshot.repo_root)
    resumed = bool(store.nodes(run_id))
    store.update(run_id, status=Status.RUNNING, worker_pid=os.getpid())
    events.emit("run.resume" if resumed else "run.start", task=record.task, blueprint=record.blueprint, model=record.model,
                branch=record.branch, repo=record.repo)
    if settings.sandbox == "none":
        events.emit("log", level="warning", message="sandbox = \"none\": commands run UNSANDBOXED on this machine")
    for rel in settings.dependency_dirs:
        if (snapshot.repo_root / rel).is_symlink():
            events.emit("log", level="warning", message=f"the dependency folder {rel} is a link in your repository: "
                        "not shown in the sandbox (only real folders are)")

    run = Run(
        run_id=run_id, task=record.task, anchor=record.anchor, branch=record.branch or "", snapshot=snapshot,
        settings=settings, sandbox=sandbox_for(snapshot, settings, python), python=python, model=model,
        store=store, events=events,
    )
    try:
        status, summary, error = await _drive(run, blueprint.fn, store)
    finally:
        await run.baseline.stop()

    repo_gone = not snapshot.git_common_dir.is_dir()
    if repo_gone:  # deleted while the run worked: there is no branch to keep the work on
        status, error = Status.LOST, None
        summary = (f"the repository {snapshot.repo_root} was deleted while the run worked; "
                   f"its files are left in {snapshot.worktree}")
    elif status not in (Status.OK, Status.FAILED_CHECKS) or not run.committed:
        # The blueprint stopped early or never committed: keep the work so far on the branch.
        try:
            await run.commit(run.commit_message(status.value))
        except Exception as e:  # the repo may be gone; the status must still be stored
            status, error = Status.FAILED, (error or "") + f"\ncommitting the work failed: {e}"
    files = changed_files(snapshot.repo_root, snapshot.commit, run.head) if run.head and not repo_gone else []
    sensitive = (sensitive_changes(snapshot.repo_root, snapshot.commit, run.head, settings.sensitive_paths)
                 if files else [])
    store.finish(
        run_id, status=status, head=run.head, files=files, checks=run.last_checks or [], usage=run.usage,
        turns=run.budget.turns,
        summary=summary, error=error, worker_pid=None, refused=run.refused, sensitive=sensitive,
    )
    events.emit("run.end", status=status.value, branch=record.branch, head=run.head, files=files,
                refused=[asdict(r) for r in run.refused], sensitive=[asdict(s) for s in sensitive],
                usage={**run.usage.to_dict(), "turns": run.budget.turns}, summary=summary, error=error)
    return store.get(run_id)


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

    def expire(signum, frame):
        raise BlockedPastDeadline("the blueprint blocked the event loop past the wall-clock cap")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _hard_deadline_armed = False


async def _call_blueprint(blueprint_fn, run: Run) -> None:
    returned = await blueprint_fn(run)
    if returned is not None:
        hint = ""
        if inspect.iscoroutine(returned):
            returned.close()
            hint = " (a missing await?)"
        raise BlueprintError(f"the blueprint returned {type(returned).__name__}{hint}; blueprints return nothing")


async def _drive(run: Run, blueprint_fn, store: RunStore) -> tuple[Status, str, str | None]:
    """Run the blueprint under the wall-clock cap, watching for cancel requests."""
    task = asyncio.ensure_future(_call_blueprint(blueprint_fn, run))
    cap = run.settings.max_wall_seconds

    async def watch_cancel():
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


def result_json(record: RunRecord) -> dict[str, Any]:
    """The stable result shape of `minion run --json` and `minion show --json`."""
    return {
        "id": record.id,
        "status": record.status.value,
        "task": record.task,
        "repo": record.repo,
        "blueprint": record.blueprint,
        "model": record.model,
        "branch": record.branch,
        "base": record.base,
        "base_head": record.base_head,
        "head": record.head,
        "files": record.files,
        "refused": [asdict(r) for r in record.refused],  # what the commit guard left out of the branch
        "sensitive": [asdict(s) for s in record.sensitive],  # committed changes a reviewer must see first
        "checks": [c.to_dict() for c in record.checks],
        "usage": {**record.usage.to_dict(), "turns": record.turns},
        "summary": record.summary,
        "error": record.error,
        "log": str(log_path(record.id)),
        "worktree": record.worktree,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def node_json(node: NodeRecord) -> dict[str, Any]:
    """A node of `minion show --json`."""
    return {**asdict(node), "usage": node.usage.to_dict()}
