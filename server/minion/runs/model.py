"""What a run is: its status and the rules that go with it, its record, its checks' results.

Everything above the store sees these types, never the dicts they are stored as.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ..agent.usage import Usage
from ..config import Settings
from ..context import Anchor
from ..snapshot import FlaggedFile, snapshot_ref
from .events import log_path


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAILED_CHECKS = "failed_checks"
    FAILED = "failed"  # the blueprint or minion itself failed; see `error`
    CANCELLED = "cancelled"
    STUCK = "stuck"
    REFUSED = "refused"
    CAPPED_TURNS = "capped_turns"
    CAPPED_TOKENS = "capped_tokens"
    CAPPED_COST = "capped_cost"
    CAPPED_TIME = "capped_time"
    LOST = "lost"  # the run cannot continue: its worker died, or its repository is gone

    @property
    def active(self) -> bool:
        return self in (Status.QUEUED, Status.RUNNING)

    @property
    def resumable(self) -> bool:
        """Whether the run stopped before its end and can continue where it was (a lost run
        too, while its worktree is there: the language server marks a run lost when its
        worker dies). An active run resumes only once its worker is gone."""
        return self.active or self in _STOPPED_EARLY

    @property
    def exit_code(self) -> int:
        return 0 if self is Status.OK else 1

    def actions(self, *, has_changes: bool) -> list[str]:
        """The commands (docs/lsp.md) a run with this status offers, in the order to show them."""
        if self.active:
            return ["minion.openReport", "minion.cancel"]
        offered = ["minion.openReport"]
        if has_changes:
            offered.append("minion.apply")
        if self.resumable:
            offered.append("minion.resume")
        return [*offered, "minion.discard"]


_STOPPED_EARLY = {Status.CANCELLED, Status.STUCK, Status.CAPPED_TURNS, Status.CAPPED_TOKENS,
                  Status.CAPPED_COST, Status.CAPPED_TIME, Status.LOST}


@dataclass
class CheckResult:
    name: str
    command: str
    ok: bool
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    failures: list[dict] = field(default_factory=list)  # the first errors it names (failures.Failure)
    # The same check on the snapshot, before the run: {ok, summary, failures}; None: not known.
    baseline: dict | None = None
    preexisting: bool = False  # failed, but only as it already did before the run
    changed: list[str] = field(default_factory=list)  # files the check itself changed (put back)

    @property
    def counts(self) -> bool:
        """Whether this check's failure is the run's doing."""
        return not self.ok and not self.preexisting

    @property
    def verdict(self) -> str:
        return "passed" if self.ok else "already failing before this run" if self.preexisting else "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """A stored result; one from before a field existed has that field's default."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class FleetPlace:
    """Where a fleet run executes (docs/fleet.md): its worker (None until one claims it),
    its workflow, and the run's page in Temporal's web UI ("" when not known)."""

    workflow_id: str
    worker: str | None = None
    web_ui: str = ""


@dataclass
class RunRecord:
    id: str
    created_at: float
    updated_at: float
    status: Status
    repo: str
    task: str
    blueprint: str
    model: str
    # What the run was asked for, fixed when it was created (resume may raise the caps).
    settings: Settings = field(default_factory=Settings)
    anchor: Anchor | None = None
    base_head: str | None = None  # the user's HEAD when the snapshot was taken; None: unborn
    git_common_dir: str = ""
    branch: str | None = None
    base: str | None = None
    snapshot: str | None = None
    head: str | None = None
    worktree: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    summary: str = ""
    error: str | None = None
    worker_pid: int | None = None
    cancel_requested: bool = False
    refused: list[FlaggedFile] = field(default_factory=list)  # what the commit guard left out
    sensitive: list[FlaggedFile] = field(default_factory=list)  # committed, but review first
    revises: str | None = None  # the run whose branch this one continues (`minion revise`)
    earlier: str = ""  # what the rounds before this one did, for the prompt (engine.create.earlier_rounds)
    fleet: FleetPlace | None = None  # None: a local run

    @property
    def snapshot_ref(self) -> str:
        return snapshot_ref(self.id)

    @property
    def checks_ok(self) -> bool | None:
        """Whether every check passed; None when there were none."""
        return all(c.ok for c in self.checks) if self.checks else None

    @property
    def actions(self) -> list[str]:
        return self.status.actions(has_changes=bool(self.files))


@dataclass
class NodeRecord:
    run_id: str
    seq: int
    name: str
    kind: str
    status: str
    started_at: float
    ended_at: float | None = None
    summary: str = ""
    result: Any = None
    usage: Usage = field(default_factory=Usage)


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
        "revises": record.revises,
        "fleet": asdict(record.fleet) if record.fleet else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def node_json(node: NodeRecord) -> dict[str, Any]:
    """A node of `minion show --json`."""
    return {**asdict(node), "usage": node.usage.to_dict()}
