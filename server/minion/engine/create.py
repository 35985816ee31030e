"""Creating runs: request → settings → snapshot → a queued run in the store, and the
sandbox it gets; resuming one that stopped early.

`create_run` does everything that can fail on bad input (exit 2) before any work starts.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..agent.models import check_model_spec
from ..blueprint.checks import Detection, detect_checks
from ..blueprint.python_env import PythonEnv, find_python_env
from ..blueprint.registry import check_blueprint, check_runs_on_fleet
from ..blueprint.repo_map import prefetch as prefetch_map
from ..config import Settings, load_settings, validate_settings
from ..context import Anchor
from ..errors import MinionError
from ..git import git
from ..mcp_servers.config import load_mcp_config
from ..redact import redact_text
from ..runs.executor import on_fleet, pid_alive
from ..runs.model import RunRecord, Status
from ..runs.store import RunStore
from ..sandbox import Limits, Sandbox, SandboxPolicy, build_view, explain
from ..sandbox.mounts import git_mounts
from ..snapshot import Snapshot, changed_files, discard_snapshot, find_repo_root, slugify, snapshot_at, take_snapshot
from ..state import homes_dir, worktrees_dir


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
    revises: str | None = None  # a run whose branch this one continues (`revise_request`)


def executed_here(request: RunRequest) -> RunRequest:
    """``request`` for a run this process executes itself: on this machine, whatever the
    configured executor is (the run's record says so too)."""
    return replace(request, flags={**request.flags, "executor": "local"})


def request_settings(request: RunRequest, repo_root: Path) -> Settings:
    """The settings the run of ``request`` will have."""
    flags = {**request.flags, "model": request.model, "blueprint": request.blueprint}
    return load_settings(repo_root, editor=request.editor_settings, flags=flags)


def create_run(request: RunRequest, store: RunStore, *, prefetch_context: bool = False,
               given_blueprint: bool = False) -> RunRecord:
    """Validate, snapshot and store a queued run. Raises MinionError on bad input.

    ``prefetch_context``: this process executes the run, so its repo map starts building
    as soon as the snapshot commit exists, beside the worktree's checkout.
    ``given_blueprint``: the caller hands `execute_run` the blueprint itself
    (minion.testing), so its name need not be one the repo declares."""
    if not request.task.strip():
        raise MinionError("the task is empty: say what minion should do")
    repo_root = find_repo_root(request.repo)
    settings = request_settings(request, repo_root)
    here = settings.executor == "local"  # else a fleet worker checks the snapshot out, in its own sandbox
    if not given_blueprint:
        check_blueprint(settings.blueprint, repo_root)
        if not here:
            check_runs_on_fleet(settings.blueprint, repo_root)
    check_model_spec(settings.model, settings)  # a bad spec or a missing key fails now, not later
    load_mcp_config(repo_root)  # and so does an MCP config file that cannot be read

    revised: RunRecord | None = None
    start = ""
    if request.revises:
        revised = store.get(request.revises)
        start = revisable_head(revised)
        if find_repo_root(Path(revised.repo)) != repo_root:
            raise MinionError(f"run {revised.id} is a run of {revised.repo}, not of {repo_root}")
    run_id = secrets.token_hex(4)
    with ThreadPoolExecutor(1) as beside:  # the sandbox probe starts a process: not on the critical path
        probe = beside.submit(Sandbox.check_available) if here and settings.sandbox == "bwrap" else None
        def on_commit(commit: str) -> None:
            if prefetch_context:
                prefetch_map(repo_root, commit, settings, request.task, request.anchor.path if request.anchor else None)

        if revised is None:
            snapshot = take_snapshot(repo_root, run_id, buffers=request.buffers, worktrees_dir=worktrees_dir(),
                                     exclude=settings.exclude, on_commit=on_commit, checkout=here)
        else:  # the revised run's branch head, not the user's work
            on_commit(start)
            snapshot = snapshot_at(repo_root, run_id, start, base_head=revised.base_head,
                                   worktrees_dir=worktrees_dir(), exclude=settings.exclude, checkout=here)
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
        branch=revised.branch if revised else f"minion/{slugify(redact_text(request.task))}-{run_id}",
        # A revising run's change is the whole branch's (every round), on top of the first base.
        base=(revised.base or snapshot.commit) if revised else snapshot.commit,
        snapshot=snapshot.commit,
        revises=revised.id if revised else None,
        earlier=earlier_rounds(revised, store) if revised else "",
        worktree=str(snapshot.worktree) if here else None,
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


def revise_request(store: RunStore, run_id: str, feedback: str) -> RunRequest:
    """A run that continues ``run_id``'s branch with ``feedback`` as its task: it starts at
    the branch head, its prompt sums up the earlier rounds, and it commits on top of the same
    branch (one commit per round). `create_run` makes it; the caller may change the model,
    the flags or the editor settings first. Raises MinionError when the run is unknown,
    still active, or left no branch."""
    if not feedback.strip():
        raise MinionError("the feedback is empty: say what the run should change")
    record = store.get(run_id)
    revisable_head(record)
    return RunRequest(task=feedback, repo=Path(record.repo), blueprint=record.blueprint, model=record.model,
                      anchor=record.anchor, revises=record.id)


def revisable_head(record: RunRecord) -> str:
    """The head of the run's branch, where a revision of it starts; MinionError when there
    is none to revise."""
    if record.status.active:
        raise MinionError(f"run {record.id} is still {record.status.value}: revise it once it has ended "
                          "(or cancel it first)")
    if not Path(record.git_common_dir or record.repo).is_dir():
        raise MinionError(f"run {record.id} cannot be revised: its repository {record.repo} is gone")
    head = None
    if record.branch and (record.files or record.revises):
        head = git("rev-parse", "--verify", "--quiet", f"refs/heads/{record.branch}^{{commit}}",
                   cwd=Path(record.repo), check=False) or None
    if head is None:
        raise MinionError(f"run {record.id} has no branch to revise: it ended with no change "
                          f"({record.status.value}); start a new run instead")
    return head


EARLIER_MAX_CHARS = 6000


def earlier_rounds(record: RunRecord, store: RunStore) -> str:
    """What ``record`` (and the rounds it revised) did, for the next round's prompt: each
    round's task, its nodes' summaries, the files it changed and how it ended."""
    round_files = (changed_files(Path(record.repo), record.snapshot, record.head)
                   if record.snapshot and record.head else record.files)
    steps = [f"- {n.name} ({n.kind}, {n.status}): {n.summary.strip().splitlines()[0][:300]}"
             for n in store.nodes(record.id) if n.summary.strip()]
    parts = [f"Earlier round (run {record.id}), its task:\n{record.task.strip()}"]
    if steps:
        parts.append("What it did:\n" + "\n".join(steps))
    parts.append("Files it changed: " + (", ".join(round_files) if round_files else "none"))
    parts.append(f"It ended {record.status.value}: {record.summary.strip()[:500]}")
    text = "\n\n".join(parts)
    if record.earlier.strip():
        text = f"{record.earlier.strip()}\n\n{text}"
    return text if len(text) <= EARLIER_MAX_CHARS else "…" + text[-EARLIER_MAX_CHARS:]


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
    if not on_fleet(record) and not Path(record.worktree or "").is_dir():
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
    """The run's snapshot, with its worktree on this machine; MinionError when it has none
    (a run made for the fleet): the run's folder would otherwise be the current one."""
    if not record.worktree:
        raise MinionError(f"run {record.id} has no worktree on this machine (it was made to execute on the "
                          "fleet), so it cannot execute here")
    return Snapshot(
        run_id=record.id,
        repo_root=Path(record.repo),
        git_common_dir=Path(record.git_common_dir),
        base_head=record.base_head,
        commit=record.snapshot or "",
        ref=record.snapshot_ref,
        worktree=Path(record.worktree),
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
