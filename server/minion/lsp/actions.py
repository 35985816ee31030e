"""Code actions: delegate a selection, a TODO or a diagnostic; apply or discard a result.

This runs on every cursor move in some editors, so it starts nothing and reads no file
(the repo's config only once, cached): the delegate actions only carry a command, the TODO
parse runs only when a marker is in sight, and the result quick fixes reuse the line maps
cached for the current text. "Apply all changes" is resolved (``codeAction/resolve``) only
when picked, since it reads every file the run changed; clients that cannot resolve get
the ``minion.apply`` command.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from ..context import Anchor, todo_at
from .delegation import Delegation, last_line
from .diagnostics import SOURCE, Finding
from .documents import file_path
from .edits import EditPlan
from .feature import Feature, handles
from .guard import duplicate_of
from .review import Review
from .runs import Runs
from .server import MinionServer
from .wire import ApplyAllData, Command, RunRef

TODO_LOOKBACK_LINES = 40  # a TODO's comment may start this far above the cursor
KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]


@dataclass
class Offer:
    """One action, in the forms clients understand: a code action, or just its command."""

    title: str
    kind: types.CodeActionKind
    command: types.Command  # what runs it: all a command-only client sees
    edit: types.WorkspaceEdit | None = None  # applied instead of the command when given
    resolve: dict[str, Any] | None = None  # the edit comes from codeAction/resolve
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    llm_generated: bool = False  # the edit was written by the model

    def to_lsp(self, ls: MinionServer) -> types.CodeAction | types.Command:
        if not ls.support.code_action_literals:
            return self.command
        action = types.CodeAction(title=self.title, kind=self.kind, diagnostics=self.diagnostics or None)
        if self.edit is not None:
            action.edit = self.edit
        elif self.resolve is not None and ls.support.resolve_edit:
            action.data = self.resolve
        else:
            action.command = self.command
        if self.llm_generated and ls.support.llm_tag:
            action.tags = [types.CodeActionTag.LlmGenerated]
        return action


class CodeActions(Feature):
    def __init__(self, ls: MinionServer, review: Review, runs: Runs) -> None:
        super().__init__(ls)
        self.review, self.runs = review, runs

    @handles(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True))
    def code_action(self, params: types.CodeActionParams) -> list[types.CodeAction | types.Command] | None:
        offers = [o for o in self.offers_for(params) if _wanted(o.kind, params.context.only)]
        return [o.to_lsp(self.ls) for o in offers] or None

    @handles(types.CODE_ACTION_RESOLVE)
    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        if isinstance(action.data, dict) and action.data.get("applyAll"):
            plan = await self.review.edit_plan(self.review.result_of(action.data["applyAll"]))
            action.edit = plan.workspace_edit()
        return action

    def offers_for(self, params: types.CodeActionParams) -> list[Offer]:
        ls = self.ls
        path = file_path(params.text_document.uri)
        repo = ls.repo_root_of(path) if path else None
        if path is None or repo is None:  # minion works on files of git repositories
            return []
        doc = ls.workspace.get_text_document(params.text_document.uri)
        rel = path.relative_to(repo)
        delegations = _selection(doc, rel, params.range)
        delegations += _todo(doc, rel, params.range, ls.settings_for(repo).todo_patterns)
        delegations += _diagnostics(doc, rel, params.context.diagnostics)
        offers = self._show_runs(delegations, doc)
        offers += [offer for offer, _ in delegations]
        offers += self._result_fixes(self.review.findings_in(doc, path), params.range, doc)
        return offers

    def _show_runs(self, delegations: list[tuple[Offer, Anchor]], doc: TextDocument) -> list[Offer]:
        """"Show run <id>" for each anchor that has an active or unreviewed run: first."""
        runs = self.runs.anchored_runs()
        if not runs:
            return []
        offers: list[Offer] = []
        shown: set[str] = set()
        for offer, anchor in delegations:
            duplicate = duplicate_of(anchor, runs, doc.source)
            if duplicate is None or duplicate.record.id in shown:
                continue
            shown.add(duplicate.record.id)
            run_id = duplicate.record.id
            title = f"Show run {run_id} ({duplicate.status.value})"
            show = types.Command(title=title, command=Command.SHOW_RUN, arguments=[RunRef(run_id=run_id).dump()])
            offers.append(Offer(title, offer.kind, show, diagnostics=offer.diagnostics))
        return offers

    def _result_fixes(self, found: list[Finding], selection: types.Range, doc: TextDocument) -> list[Offer]:
        """Apply this change / Apply all / Discard, for the minion diagnostics under the cursor."""
        offers: list[Offer] = []
        runs: dict[str, list[types.Diagnostic]] = {}
        for finding in found:
            if not _touches(finding.diagnostic.range, selection):
                continue
            runs.setdefault(finding.run_id, []).append(finding.diagnostic)
            if finding.edit is not None:
                single = EditPlan(self.ls.support)
                single.text_edit(doc.uri, doc.version, [finding.edit])
                command = types.Command(title="Apply this change", command=Command.APPLY_HUNK,
                                        arguments=[finding.run_id, finding.hunk_index])
                offers.append(Offer(f"Apply this change (minion {finding.run_id})", types.CodeActionKind.QuickFix,
                                    command, edit=single.workspace_edit(), diagnostics=[finding.diagnostic],
                                    llm_generated=True))
        for run_id, diagnostics in runs.items():
            if self.review.results[run_id].hunks:
                title = f"Apply all changes of run {run_id}"
                apply_all = types.Command(title=title, command=Command.APPLY, arguments=[run_id])
                offers.append(Offer(title, types.CodeActionKind.QuickFix, apply_all,
                                    resolve=ApplyAllData(apply_all=run_id).dump(),
                                    diagnostics=diagnostics, llm_generated=True))
            discard = types.Command(title=f"Discard run {run_id}", command=Command.DISCARD, arguments=[run_id])
            offers.append(Offer(discard.title, types.CodeActionKind.QuickFix, discard, diagnostics=diagnostics))
        return offers


def _wanted(kind: str, only: Sequence[str] | None) -> bool:
    """LSP kinds are hierarchical: asking for "refactor" includes "refactor.rewrite"."""
    return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)


def _delegate(title: str, kind: types.CodeActionKind, delegation: Delegation, doc: TextDocument,
              diagnostics: Sequence[types.Diagnostic] = ()) -> Offer:
    """The delegate action; its command carries the anchor's text and the document's version
    (guard.relocate finds the anchor again after the user typed)."""
    anchored = dataclasses.replace(delegation, text=_text_in(doc, delegation.range), version=doc.version)
    command = types.Command(title=title, command=Command.DELEGATE, arguments=[anchored.argument()])
    return Offer(title, kind, command, diagnostics=list(diagnostics))


def _text_in(doc: TextDocument, span: types.Range) -> str | None:
    try:
        return doc.text_in_client_range(span) or None
    except (IndexError, ValueError):
        return None


def _selection(doc: TextDocument, rel: Path, selection: types.Range) -> list[tuple[Offer, Anchor]]:
    if selection.start == selection.end:
        return []
    delegation = Delegation(doc.uri, selection, "selection")
    anchor = Anchor("selection", rel.as_posix(), selection.start.line, last_line(selection))
    return [(_delegate("Delegate to minion…", types.CodeActionKind.RefactorRewrite, delegation, doc), anchor)]


def _todo(doc: TextDocument, rel: Path, selection: types.Range, patterns: list[str]) -> list[tuple[Offer, Anchor]]:
    line = selection.start.line
    nearby = "".join(doc.lines[max(0, line - TODO_LOOKBACK_LINES) : line + 1])
    if not any(pattern in nearby for pattern in patterns):  # the cheap test before a parse
        return []
    todo = todo_at(rel, doc.source, line, patterns)
    if todo is None:
        return []
    start = types.Position(line=todo.start_line - 1, character=0)
    end = types.Position(line=todo.end_line, character=0)
    delegation = Delegation(doc.uri, types.Range(start, end), "todo")
    anchor = Anchor("todo", rel.as_posix(), todo.start_line - 1, todo.end_line - 1, todo.text)
    return [(_delegate("Hand off TODO to minion", types.CodeActionKind.QuickFix, delegation, doc), anchor)]


def _diagnostics(doc: TextDocument, rel: Path,
                 diagnostics: Sequence[types.Diagnostic]) -> list[tuple[Offer, Anchor]]:
    offers = []
    for diagnostic in diagnostics:
        if diagnostic.source == SOURCE:
            continue
        summary = diagnostic.message.strip().splitlines()[0] if diagnostic.message.strip() else "this problem"
        summary = summary if len(summary) <= 60 else summary[:59] + "…"
        delegation = Delegation(doc.uri, diagnostic.range, "diagnostic", diagnostic={
            "message": diagnostic.message, "source": diagnostic.source, "code": diagnostic.code})
        title = f"Ask minion to fix: {summary}"
        anchor = Anchor("diagnostic", rel.as_posix(), diagnostic.range.start.line, last_line(diagnostic.range),
                        diagnostic.message)
        offers.append((_delegate(title, types.CodeActionKind.QuickFix, delegation, doc, [diagnostic]), anchor))
    return offers


def _touches(a: types.Range, b: types.Range) -> bool:
    """Whether two ranges share a line: the cursor anywhere on a diagnostic's lines counts."""
    return a.start.line <= b.end.line and b.start.line <= a.end.line
