"""minion's own payloads on the wire (docs/lsp.md), declared once.

LSP's own messages are lsprotocol's; these are the parts minion adds: the commands'
arguments and results, the ``minion/*`` notifications, the initialize extras and what a
code action carries for ``codeAction/resolve``. The server builds every one of them from
these models (``Wire.dump``), so a payload cannot drift from its declaration, and the
editors read the rules of a run (what it offers, whether it can continue) from the
payloads instead of keeping copies of them.

``scripts/wire_types.py`` writes ``editors/vscode/src/wire.ts`` from these models' JSON
schema (their docstrings become the comments there); ``tests/unit/test_wire_types.py``
fails when that file is not what the generator writes. Field names are the wire's own:
snake_case where the payload mirrors the run store (runs rows, settings keys), camelCase
where the protocol already used it (``runId``, ``failureReason``).
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..runs.model import RunRecord, Status

TITLE_CHARS = 60  # RunRow.title and RunStatus.title

RUN_STATUS = "minion/runStatus"  # notification: RunStatus
CAPABILITIES = "minion/capabilities"  # notification: MinionCapabilities, when they change after initialize


class Command(StrEnum):
    """The commands of `workspace/executeCommand` that minion serves."""

    DELEGATE = "minion.delegate"
    RESUME = "minion.resume"
    CANCEL = "minion.cancel"
    RUNS = "minion.runs"
    APPLY = "minion.apply"
    APPLY_HUNK = "minion.applyHunk"
    DISCARD = "minion.discard"
    OPEN_REPORT = "minion.openReport"
    RUN_NODES = "minion.runNodes"
    RUN_LOG = "minion.runLog"
    RUN_FILES = "minion.runFiles"
    FILE_AT = "minion.fileAt"
    SHOW_RUN = "minion.showRun"
    REVISE = "minion.revise"


class RunAction(StrEnum):
    """What can be done with one run: the commands `Status.actions` offers. Each takes the
    run's id as its one argument."""

    OPEN_REPORT = "minion.openReport"
    CANCEL = "minion.cancel"
    APPLY = "minion.apply"
    RESUME = "minion.resume"
    DISCARD = "minion.discard"


class Wire(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, use_attribute_docstrings=True)

    def dump(self) -> dict[str, Any]:
        """The JSON object sent: wire names; a field left at its default and not given is
        left out (the optional fields of the TypeScript types)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- the rules of a run, in every payload that describes one ------------------------------------


class RunRules(Wire):
    """The rules of one run, from its status (runs/model.py): the editors show these and keep
    no copy of them."""

    actions: list[RunAction]
    """What the editor may offer for this run, in the order to show them (Status.actions)."""
    resumable: bool
    """Whether the run stopped before its end and `minion.resume` continues it (Status.resumable;
    true for an active run too, which resumes only once its worker is gone)."""
    ended: bool
    """Whether the run reached an end (not queued or running)."""


# --- commands ------------------------------------------------------------------------------------


class Position(Wire):
    line: int
    character: int


class Range(Wire):
    start: Position
    end: Position


class DiagnosticRef(Wire):
    """The diagnostic a delegation is about, as the client has it."""

    message: str
    source: str | None = None
    code: int | str | None = None


class Delegation(Wire):
    """The one argument of `minion.delegate`, as the delegate code actions carry it."""

    uri: str
    range: Range
    """For a TODO, the whole comment."""
    kind: Literal["selection", "todo", "diagnostic"] = "selection"
    instruction: str | None = None
    """What to do; a client that prompts fills it in (null: the selection, TODO or diagnostic says it)."""
    diagnostic: DiagnosticRef | None = None
    text: str | None = None
    """The anchor's text when the action was offered (the TODO's comment lines, the selected
    text): the server finds it again in the current text, nearest to `range`, so the command
    still applies after the user typed above it."""
    version: int | None = None
    """The document's version when the action was offered."""
    force: bool = False
    """Start a run even though the anchor already has an active or unreviewed run (without
    it the server answers `DuplicateRun` and starts nothing)."""


class DuplicateRun(Wire):
    """`minion.delegate` without `force` on an anchor that already has an active or
    unreviewed run: nothing started; the editor asks, then sends again with `force: true`."""

    duplicate_of: str = Field(alias="duplicateOf")
    status: Status


class StartedRun(Wire):
    """`minion.delegate` and `minion.resume`: the run is snapshotted and queued."""

    run_id: str = Field(alias="runId")
    branch: str | None
    status: Status


class CancelResult(Wire):
    run_id: str = Field(alias="runId")
    status: Status | Literal["cancelling"]
    """`cancelled` (it was queued), `cancelling` (its worker winds down), or the status of a run that had ended."""


class RunRow(RunRules):
    """One run of `minion.runs` (newest first), and of `minion.showRun`."""

    id: str
    status: Status
    repo: str
    """The run's repository (its work tree's root)."""
    task: str
    branch: str | None
    files: list[str]
    cost_usd: float
    checks_ok: bool | None
    """Whether every check passed; null when there were none."""
    created_at: float
    """When the run was created: seconds since the epoch (UTC)."""
    report_uri: str | None
    """The run's markdown report, once written."""
    node: str | None
    """The blueprint node it is at (null once it ended)."""
    turns: int
    """Agent turns so far."""
    max_turns: int
    """The run's turn cap."""
    elapsed_s: float
    """Seconds since it was created (to its last update once it ended)."""
    revises: str | None
    """The run this one revises (`minion.revise`), if any."""
    title: str
    """One line of progress, at most 60 characters: `"<node> · turn 3/60 · 42 s · $0.08"`."""

    @classmethod
    def of(cls, record: RunRecord, report_uri: str | None, *, node: str | None = None,
           turns: int | None = None, cost_usd: float | None = None, now: float | None = None) -> RunRow:
        """``node``, ``turns`` and ``cost_usd``: as the server follows an active run (the
        record may be older)."""
        turns = record.turns if turns is None else turns
        cost = record.usage.cost_usd if cost_usd is None else cost_usd
        elapsed = elapsed_of(record, record.status, now)
        node = node if record.status.active else None
        return cls(id=record.id, status=record.status, repo=record.repo, task=record.task, branch=record.branch,
                   files=record.files, cost_usd=cost, checks_ok=record.checks_ok, created_at=record.created_at,
                   report_uri=report_uri, actions=record.actions, resumable=record.status.resumable,
                   ended=not record.status.active, node=node, turns=turns, max_turns=record.settings.max_turns,
                   elapsed_s=elapsed, revises=record.revises,
                   title=title(node or record.status.value, turns, record.settings.max_turns, elapsed, cost))


def elapsed_of(record: RunRecord, status: Status, now: float | None = None) -> float:
    """Seconds the run has taken: to now while it is active, to its last update once ended."""
    end = (now or time.time()) if status.active else record.updated_at
    return round(max(0.0, end - record.created_at), 1)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def title(node: str, turns: int, max_turns: int, elapsed_s: float, cost_usd: float) -> str:
    """`"<node> · turn 3/60 · 42 s · $0.08"`, at most TITLE_CHARS characters: the node's
    name is cut (with "…") to make room for the rest."""
    node = " ".join(node.split()) or "run"
    rest = f" · turn {turns}/{max_turns} · {_duration(elapsed_s)} · ${cost_usd:.2f}"
    room = TITLE_CHARS - len(rest)
    if room < 2:  # absurd caps: keep the start of the whole line
        whole = node + rest
        return whole if len(whole) <= TITLE_CHARS else whole[: TITLE_CHARS - 1] + "…"
    if len(node) > room:
        node = node[: room - 1] + "…"
    return node + rest


class NodeRow(Wire):
    """One node of a run (`minion.runNodes`), in the order the blueprint ran them."""

    seq: int
    name: str
    kind: str
    """`step`, `check` or `agent`."""
    status: str
    summary: str
    started_at: float
    """Seconds since the epoch (UTC)."""
    ended_at: float | None
    """Null while it runs."""


class LogLine(Wire):
    ts: float
    """When: seconds since the epoch (UTC)."""
    text: str


class RunLog(Wire):
    """`minion.runLog`: the run's events from index `after` on, one line each (as the
    terminal shows them); poll again with `after: next` for the lines written since."""

    lines: list[LogLine]
    next: int
    """The index of the first event not read yet."""


class HunkSpan(Wire):
    """One change region of a file, where the diff view shows it. Lines are 0-based; a
    count of 0 is a point between lines (an insertion on the head side, a deletion on the
    base side) that comes before line ``*_start``."""

    index: int
    """What `minion.applyHunk` takes to apply just this change."""
    base_start: int
    base_count: int
    head_start: int
    head_count: int


class FileChange(Wire):
    path: str
    change: Literal["added", "modified", "deleted", "renamed"]
    old_path: str | None = None
    """Only for a rename: the path on the base side."""
    hunks: list[HunkSpan] = []
    """The file's text changes, in order (none for a binary file, a symlink or a rename's
    unchanged content)."""


class RunFiles(Wire):
    """`minion.runFiles`: what the run changed, from its base (the snapshot) to its head
    (the branch); `minion.fileAt` gives either side of a file."""

    base: str
    head: str
    files: list[FileChange]


class FileText(Wire):
    """`minion.fileAt`: a file's text on one side of the run; null when there is no such
    file on that side (added, deleted)."""

    text: str | None


class ApplyResult(Wire):
    """`minion.apply` and `minion.applyHunk`."""

    applied: int
    skipped: int
    """Hunks whose region of the user's text changed, or that need a resource operation the client lacks."""
    failure_reason: str | None = Field(default=None, alias="failureReason")
    """Only when the client refused the edit: its reason."""


class DiscardResult(Wire):
    run_id: str = Field(alias="runId")
    discarded: bool
    branch_deleted: bool = Field(alias="branchDeleted")
    """Asked for and done (false while a cancelled run winds down: it goes at its end)."""
    worktree_removed: bool = Field(alias="worktreeRemoved")
    """The run's worktree is gone (it cannot resume any more); false when it had none left, or
    while a cancelled run winds down (it goes at its end)."""


class ReportOpened(Wire):
    """`minion.openReport`: the compare URL, else the report's file URI."""

    uri: str


class RunRef(Wire):
    """The argument of `minion.runNodes`, `minion.runFiles` and `minion.showRun` (and of
    the other run commands in their object form)."""

    run_id: str = Field(alias="runId")


class RunsQuery(Wire):
    """The optional argument of `minion.runs`."""

    scope: Literal["workspace", "all"] = "workspace"
    """`workspace`: the runs of the workspace folders' repositories; `all`: every run."""


class RunLogQuery(Wire):
    run_id: str = Field(alias="runId")
    after: int = 0
    """The index of the first event wanted (the `next` of the previous answer)."""


class FileAtQuery(Wire):
    run_id: str = Field(alias="runId")
    path: str
    """Repo-relative, as `minion.runFiles` names it."""
    side: Literal["base", "head"]


class Revision(Wire):
    """The argument of `minion.revise`: a new run on top of the run's branch, with the
    feedback as its task."""

    run_id: str = Field(alias="runId")
    feedback: str


class DiscardQuery(Wire):
    run_id: str = Field(alias="runId")
    delete_branch: bool = Field(default=False, alias="deleteBranch")


class ApplyAllData(Wire):
    """`data` of the "Apply all changes" code action, for `codeAction/resolve`."""

    apply_all: str = Field(alias="applyAll")


# The result of each command: its model (or the models it may be), and whether it is a list.
COMMAND_RESULTS: dict[Command, tuple[type[Wire] | tuple[type[Wire], ...], bool]] = {
    Command.DELEGATE: ((StartedRun, DuplicateRun), False),
    Command.RESUME: (StartedRun, False),
    Command.CANCEL: (CancelResult, False),
    Command.RUNS: (RunRow, True),
    Command.APPLY: (ApplyResult, False),
    Command.APPLY_HUNK: (ApplyResult, False),
    Command.DISCARD: (DiscardResult, False),
    Command.OPEN_REPORT: (ReportOpened, False),
    Command.RUN_NODES: (NodeRow, True),
    Command.RUN_LOG: (RunLog, False),
    Command.RUN_FILES: (RunFiles, False),
    Command.FILE_AT: (FileText, False),
    Command.SHOW_RUN: (RunRow, False),
    Command.REVISE: (StartedRun, False),
}

# The argument of each command that takes an object.
COMMAND_ARGUMENTS: dict[Command, type[Wire]] = {
    Command.DELEGATE: Delegation,
    Command.RUNS: RunsQuery,
    Command.RUN_NODES: RunRef,
    Command.RUN_LOG: RunLogQuery,
    Command.RUN_FILES: RunRef,
    Command.FILE_AT: FileAtQuery,
    Command.SHOW_RUN: RunRef,
    Command.REVISE: Revision,
    Command.DISCARD: DiscardQuery,
}


# --- from the server, unasked ------------------------------------------------------------------


class RunStatus(RunRules):
    """`minion/runStatus`: sent on every status or node change of a run."""

    id: str
    status: Status
    repo: str
    """The run's repository (its work tree's root)."""
    node: str | None
    """The blueprint node it is at (null once it ended)."""
    branch: str | None
    active: int
    """How many runs are active (queued or running) in this server, this one included while it is."""
    turns: int
    max_turns: int
    elapsed_s: float
    cost_usd: float
    title: str
    """One line of progress, at most 60 characters: `"<node> · turn 3/60 · 42 s · $0.08"`."""

    @classmethod
    def of(cls, record: RunRecord, status: Status, node: str | None, active: int, *,
           turns: int | None = None, cost_usd: float | None = None) -> RunStatus:
        """``status``, ``node``, ``turns`` and ``cost_usd`` are the run's as the server
        follows it (the record may be older)."""
        turns = record.turns if turns is None else turns
        cost = record.usage.cost_usd if cost_usd is None else cost_usd
        elapsed = elapsed_of(record, status)
        max_turns = record.settings.max_turns
        return cls(id=record.id, status=status, repo=record.repo, node=node, branch=record.branch, active=active,
                   actions=status.actions(has_changes=bool(record.files)), resumable=status.resumable,
                   ended=not status.active, turns=turns, max_turns=max_turns, elapsed_s=elapsed, cost_usd=cost,
                   title=title(node or status.value, turns, max_turns, elapsed, cost))


class MinionCapabilities(Wire):
    """What the editor needs to know of the server's settings: in the initialize result's
    `capabilities.experimental.minion`, and again as `minion/capabilities` when a change of
    configuration changes it."""

    todo_patterns: list[str]
    """The markers of TODO comments meant for minion (the `todo_patterns` setting of the
    workspace's repository)."""


class ExperimentalCapabilities(Wire):
    """`capabilities.experimental` of the initialize result."""

    minion: MinionCapabilities


# --- from the client -----------------------------------------------------------------------------


class InitializationOptions(Wire):
    settings: dict[str, Any] = Field(default_factory=dict)
    """Server settings with the config file's keys (snake_case; camelCase is accepted too)."""
    prompt_for_instruction: bool = Field(default=False, alias="promptForInstruction")
    """For the client alone: it intercepts `minion.delegate` without an instruction and prompts."""


# The notifications minion sends, and their params.
NOTIFICATIONS: dict[str, type[Wire]] = {RUN_STATUS: RunStatus, CAPABILITIES: MinionCapabilities}

# Every model of the wire, in the order the generated TypeScript declares them (a model
# another one uses comes first; the enums come before all of them).
MODELS: list[type[Wire]] = [
    RunRules, Position, Range, DiagnosticRef, Delegation, DuplicateRun, StartedRun, CancelResult, RunRow,
    NodeRow, LogLine, RunLog, HunkSpan, FileChange, RunFiles, FileText, ApplyResult, DiscardResult, ReportOpened,
    RunRef, RunsQuery, RunLogQuery, FileAtQuery, Revision, DiscardQuery, ApplyAllData, RunStatus,
    MinionCapabilities, ExperimentalCapabilities, InitializationOptions,
]
