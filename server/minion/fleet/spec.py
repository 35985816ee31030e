"""What travels through Temporal: ids, refs and the run's request. Never file contents,
never a secret: the snapshot and the result travel by git (the fleet remote), the model's
API key lives in the worker's environment.

Plain dataclasses of plain types (temporalio's default data converter), no temporalio
import: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SNAPSHOTS = "refs/minion/snapshots/"
CHECKPOINTS = "refs/minion/checkpoints/"  # the worktree and the nodes at the last node boundary or turn
RESULTS = "refs/minion/results/"  # the worker's record, nodes and event log of a run, as one commit

# The error type of an execute activity that gave its run back (its worker is shutting
# down): the run moves to another worker, from its last checkpoint.
HANDOVER = "minion.handover"

# Progress events: what the client is shown live. The event log's heavy parts (tool inputs
# and outputs, the model's text) stay on the worker until the run's result commit.
DROPPED_KEYS = {"input", "output", "text", "content", "diff", "patch", "traceback"}
MAX_VALUE_CHARS = 600


@dataclass
class RunSpec:
    run_id: str
    workflow_id: str
    task_queue: str  # the shared one, where runs are claimed
    snapshot_ref: str  # refs/minion/snapshots/<id> on the fleet remote
    snapshot: str  # its commit
    base: str
    base_head: str | None
    branch: str
    task: str
    blueprint: str
    model: str
    settings: dict[str, Any]  # the run's settings as created (caps, sandbox, checks), no secret in them
    anchor: dict[str, Any] | None = None
    earlier: str = ""
    resume: bool = False  # the client resumes the run: a worker continues from its checkpoint


@dataclass
class Claim:
    worker: str
    queue: str  # the worker's own task queue: every activity of the run goes there


@dataclass
class ExecuteInput:
    spec: RunSpec
    attempt: int = 0


@dataclass
class RunOutcome:
    status: str
    head: str | None
    summary: str
    worker: str
    results_ref: str | None  # the commit with record.json, nodes.json, events.jsonl
    branch_pushed: bool = False
    error: str | None = None


@dataclass
class Progress:
    events: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0  # how many events there are in all
    worker: str | None = None
    state: str = "queued"  # queued | claimed | running | ended


def progress_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the client sees it live: small scalar fields only, no content."""
    slim: dict[str, Any] = {}
    for key, value in event.items():
        if key in DROPPED_KEYS:
            continue
        if isinstance(value, str):
            slim[key] = value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
        elif value is None or isinstance(value, (bool, int, float)):
            slim[key] = value
        elif key in ("usage", "files") and len(repr(value)) <= 4000:
            slim[key] = value
    return slim
