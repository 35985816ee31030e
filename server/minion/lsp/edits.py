"""The WorkspaceEdits that apply a run's change to the user's files, hunk by hunk.

A hunk goes in only while its region of the user's current text still equals what the
run changed; the others are counted as skipped. With ``documentChanges`` each document
edit carries the open document's version, so the client refuses it if the user typed in
between; files the run added or deleted need the client's resource operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types

from .capabilities import ClientSupport
from .diagnostics import Target, hunk_findings
from .results import RunResult

DocumentChange = types.TextDocumentEdit | types.CreateFile | types.DeleteFile


@dataclass
class EditPlan:
    support: ClientSupport
    changes: list[DocumentChange] = field(default_factory=list)
    applied: int = 0  # hunks the edit carries
    skipped: int = 0  # hunks it cannot carry: the region changed, or a file operation is unsupported

    def text_edit(self, uri: str, version: int | None, edits: list[types.TextEdit]) -> None:
        document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        self.changes.append(types.TextDocumentEdit(text_document=document, edits=edits))

    def workspace_edit(self) -> types.WorkspaceEdit | None:
        if not self.changes:
            return None
        if self.support.document_changes:
            return types.WorkspaceEdit(document_changes=self.changes)
        # Plain `changes` carry no versions and no file operations (those were skipped).
        return types.WorkspaceEdit(changes={
            change.text_document.uri: [edit for edit in change.edits if isinstance(edit, types.TextEdit)]
            for change in self.changes if isinstance(change, types.TextDocumentEdit)
        })


def plan_edit(
    result: RunResult,
    targets: dict[str, Target | None],
    uris: dict[str, str],
    support: ClientSupport,
    only: int | None = None,
) -> EditPlan:
    """The edit for every hunk of the run (or just hunk ``only``) against ``targets``
    (path -> current text, None when the file does not exist); ``uris``: path -> uri."""
    plan = EditPlan(support)
    for path, indexes in result.hunk_indexes.items():
        wanted = [index for index in indexes if only is None or index == only]
        if not wanted:
            continue
        target = targets.get(path)
        if path not in result.base_texts:
            _create(plan, result, path, uris[path], target, len(wanted))
        elif path not in result.head_texts:
            _delete(plan, result, path, uris[path], target, len(wanted))
        elif target is None:
            plan.skipped += len(wanted)  # the user deleted the file since
        else:
            edits = [f.edit for f in hunk_findings(result, target) if f.hunk_index in wanted and f.edit]
            if edits:
                plan.text_edit(target.uri, target.version, edits)
            plan.applied += len(edits)
            plan.skipped += len(wanted) - len(edits)
    return plan


def _create(plan: EditPlan, result: RunResult, path: str, uri: str, target: Target | None, count: int) -> None:
    """A file the run added: created with the run's text, if the user has no such file."""
    if not plan.support.create_files or target is not None:
        plan.skipped += count
        return
    plan.changes.append(types.CreateFile(uri=uri))
    start = types.Position(line=0, character=0)
    plan.text_edit(uri, None, [types.TextEdit(range=types.Range(start, start), new_text=result.head_texts[path])])
    plan.applied += count


def _delete(plan: EditPlan, result: RunResult, path: str, uri: str, target: Target | None, count: int) -> None:
    """A file the run deleted: deleted only while the user's text is still the snapshot's."""
    if not plan.support.delete_files or target is None or target.text != result.base_texts[path]:
        plan.skipped += count
        return
    plan.changes.append(types.DeleteFile(uri=uri))
    plan.applied += count
