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

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..runs.model import RunRecord, Status

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
    """One run of `minion.runs` (newest first)."""

    id: str
    status: Status
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

    @classmethod
    def of(cls, record: RunRecord, report_uri: str | None) -> RunRow:
        return cls(id=record.id, status=record.status, task=record.task, branch=record.branch, files=record.files,
                   cost_usd=record.usage.cost_usd, checks_ok=record.checks_ok, created_at=record.created_at,
                   report_uri=report_uri, actions=record.actions, resumable=record.status.resumable,
                   ended=not record.status.active)


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


class ReportOpened(Wire):
    """`minion.openReport`: the compare URL, else the report's file URI."""

    uri: str


class ApplyAllData(Wire):
    """`data` of the "Apply all changes" code action, for `codeAction/resolve`."""

    apply_all: str = Field(alias="applyAll")


# The result of each command (a list of the model for `minion.runs`).
COMMAND_RESULTS: dict[Command, tuple[type[Wire], bool]] = {
    Command.DELEGATE: (StartedRun, False),
    Command.RESUME: (StartedRun, False),
    Command.CANCEL: (CancelResult, False),
    Command.RUNS: (RunRow, True),
    Command.APPLY: (ApplyResult, False),
    Command.APPLY_HUNK: (ApplyResult, False),
    Command.DISCARD: (DiscardResult, False),
    Command.OPEN_REPORT: (ReportOpened, False),
}


# --- from the server, unasked ------------------------------------------------------------------


class RunStatus(RunRules):
    """`minion/runStatus`: sent on every status or node change of a run."""

    id: str
    status: Status
    node: str | None
    """The blueprint node it is at (null once it ended)."""
    branch: str | None
    active: int
    """How many runs are active (queued or running) in this server, this one included while it is."""

    @classmethod
    def of(cls, record: RunRecord, status: Status, node: str | None, active: int) -> RunStatus:
        """``status`` is the run's as the server follows it (the record may be older)."""
        return cls(id=record.id, status=status, node=node, branch=record.branch, active=active,
                   actions=status.actions(has_changes=bool(record.files)), resumable=status.resumable,
                   ended=not status.active)


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
    RunRules, Position, Range, DiagnosticRef, Delegation, StartedRun, CancelResult, RunRow, ApplyResult,
    DiscardResult, ReportOpened, ApplyAllData, RunStatus, MinionCapabilities, ExperimentalCapabilities,
    InitializationOptions,
]
