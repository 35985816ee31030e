"""Two protections of a hand-off: against a duplicate, and against the user's typing.

A TODO, selection or diagnostic that already has an active run, or an ended one the user
has not reviewed yet (its result still shown: not applied, not discarded), is offered
"Show run <id>" first, and ``minion.delegate`` without ``force`` starts nothing for it
(``DuplicateRun``). A code action's command carries the anchor's text and the document's
version; when the command runs on a text that changed since, the anchor is found again by
that text, at the occurrence nearest to the old line, never by the stale line alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition

from ..context import Anchor
from ..runs.model import RunRecord, Status
from .diagnostics import line_map


@dataclass(frozen=True)
class AnchoredRun:
    """A run the guard knows of: active here or followed, or ended with its result shown."""

    record: RunRecord
    status: Status
    base_text: str | None  # the anchor's file as the run took it, to map its lines (None: as they are)


def same_anchor(anchor: Anchor, run: AnchoredRun, current_text: str) -> bool:
    """Whether a delegation's anchor (on ``current_text``) is what ``run`` was handed."""
    theirs = run.record.anchor
    if theirs is None or theirs.kind != anchor.kind or theirs.path != anchor.path:
        return False
    if anchor.kind == "todo":
        return " ".join(theirs.text.split()) == " ".join(anchor.text.split())
    if anchor.kind == "diagnostic" and theirs.text.strip() != anchor.text.strip():
        return False
    start, end = theirs.start_line, theirs.end_line
    if run.base_text is not None:
        start, _ = line_map(run.base_text, current_text).region(theirs.start_line, 1)
        end = start + (theirs.end_line - theirs.start_line)
    return start <= anchor.end_line and anchor.start_line <= end


def duplicate_of(anchor: Anchor, runs: Iterable[AnchoredRun], current_text: str) -> AnchoredRun | None:
    """The newest run (active first) on the same anchor, if any."""
    found = [run for run in runs if same_anchor(anchor, run, current_text)]
    found.sort(key=lambda run: (run.status.active, run.record.created_at), reverse=True)
    return found[0] if found else None


def relocate(doc: TextDocument, old: types.Range, text: str | None) -> types.Range:
    """Where the anchor text ``text`` (the text of ``old`` when the action was offered) is
    in the document now: the occurrence whose first line is nearest to ``old``'s. The old
    range when there is no text to look for, when it is still there, or when the text is
    gone (the caller then says what it finds there)."""
    if not text:
        return old
    source = doc.source
    if old.end.line <= len(doc.lines) and doc.text_in_client_range(old) == text:
        return old
    starts, at = [], source.find(text)
    while at != -1:
        starts.append(at)
        at = source.find(text, at + 1)
    if not starts:
        return old

    def line_of(offset: int) -> int:
        return source.count("\n", 0, offset)

    best = min(starts, key=lambda offset: abs(line_of(offset) - old.start.line))
    return types.Range(_position(doc, source, best), _position(doc, source, best + len(text)))


def _position(doc: TextDocument, source: str, offset: int) -> types.Position:
    line = source.count("\n", 0, offset)
    column = offset - (source.rfind("\n", 0, offset) + 1)
    return doc.position_to_client_units(ServerTextPosition(line=line, character=column))
