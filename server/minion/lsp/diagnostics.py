"""A run's result as diagnostics and edits on the user's *current* text.

The user kept typing while the run worked, so nothing is placed by the run's line
numbers alone: each region is carried from the text it was computed on (the file in the
snapshot, or on the run's branch for check output) to the current text with a line diff.
"Apply this change" is offered only while the region's current text still equals the
text the run changed; its edit then replaces exactly those lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property, lru_cache

from lsprotocol import types
from pygls.workspace import PositionCodec

from ..snapshot import Hunk
from .results import RunResult, Spot

SOURCE = "minion"
PREVIEW_LINES = 6
_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
             "information": types.DiagnosticSeverity.Information}


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\\n" only, as git counts them."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


class LineMap:
    """Where the lines of an old text are in a new one."""

    def __init__(self, old: list[str], new: list[str]):
        self.old_count, self.new_count = len(old), len(new)
        self.identical = old == new
        self.opcodes = [] if self.identical else SequenceMatcher(None, old, new, autojunk=False).get_opcodes()

    def region(self, start: int, count: int) -> tuple[int, bool]:
        """The new start line of old lines [start, start+count), and whether they are
        all still there unchanged. A changed region maps to where its change is."""
        if self.identical:
            return start, True
        for tag, i1, i2, j1, _ in self.opcodes:
            if tag == "equal" and i1 <= start and start + count <= i2:
                return j1 + start - i1, True
        for tag, i1, i2, j1, _ in self.opcodes:
            if i1 <= start < i2:
                return (j1 + start - i1 if tag == "equal" else j1), False
        return self.new_count if start >= self.old_count else 0, False

    def span(self, start: int, count: int) -> tuple[int, int]:
        """The new lines [a, b) that old lines [start, start+count) became: exact where the
        ends are unchanged, widened to whole changed blocks (and lines inserted at either
        end) where they are not."""
        if self.identical:
            return start, start + count
        end = start + count
        first = last = None
        for tag, i1, i2, j1, j2 in self.opcodes:
            if first is None and (i1 <= start < i2 or i1 == i2 == start):
                first = j1 + start - i1 if tag == "equal" else j1
            if i1 < end <= i2 or i1 == i2 == end:  # the last match wins: an insertion after the end
                last = j1 + end - i1 if tag == "equal" else j2
        first = self.new_count if first is None else first  # past the old text's end
        return first, max(first, last if last is not None else first)

    def deleted(self, start: int, count: int) -> bool:
        """Whether exactly old lines [start, start+count) were deleted."""
        return any(tag == "delete" and (i1, i2) == (start, start + count) for tag, i1, i2, _, _ in self.opcodes)


@lru_cache(maxsize=64)
def line_map(old_text: str, new_text: str) -> LineMap:
    return LineMap(split_lines(old_text), split_lines(new_text))


@dataclass
class Finding:
    """One published diagnostic, with what "Apply this change" needs when it applies."""

    run_id: str
    diagnostic: types.Diagnostic
    hunk_index: int | None = None
    edit: types.TextEdit | None = None  # None: the region changed, no quick fix


@dataclass(frozen=True)
class Target:
    """The current text of one file (the open buffer, else the disk) and how the client
    counts characters in it."""

    path: str  # repo-relative
    uri: str
    text: str
    codec: PositionCodec
    version: int | None  # the open document's version; None for the file on disk

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.text)


def findings(result: RunResult, target: Target, *, link_support: bool) -> list[Finding]:
    """Everything the run has to say about one file, placed on its current text; a change a
    reviewer must see first (sensitive.py) comes first."""
    out = [_sensitive_finding(result, change.why, target) for change in result.record.sensitive
           if change.path == target.path]
    out += hunk_findings(result, target)
    for spot in result.check_spots:
        if spot.path == target.path:
            out.append(_spot_finding(result, spot, result.head_texts[spot.path], target))
    for spot in result.anchor_spots:
        if spot.path == target.path:
            out.append(_spot_finding(result, spot, result.base_texts[spot.path], target))
    if link_support and result.link:
        for finding in out:
            finding.diagnostic.code_description = types.CodeDescription(href=result.link)
    return out


def hunk_findings(result: RunResult, target: Target) -> list[Finding]:
    """The run's changes to this file that the user's text does not have yet."""
    out = [_hunk_finding(result, index, target) for index in result.hunk_indexes.get(target.path, [])]
    return [finding for finding in out if finding is not None]


def _hunk_finding(result: RunResult, index: int, target: Target) -> Finding | None:
    hunk = result.hunks[index]
    base = result.base_texts.get(hunk.path)
    if base is None:  # a file the run added: nothing in the user's text to point at
        return None
    lines = target.lines
    old_start, old_count = hunk.old_first, hunk.old_lines
    mapping = line_map(base, target.text)
    start, intact = mapping.region(old_start, old_count)
    if not intact:
        if _already_applied(lines, start, hunk, mapping.deleted(old_start, old_count)):
            return None
        earlier = _earlier_round_place(result, hunk, base, target)
        if earlier:
            (start, old_count), intact = earlier, True
    if old_count:
        shown = _range(lines, start, old_count if intact else 1, target.codec)
    else:  # an insertion: point at the line it goes after
        shown = _range(lines, max(start - 1, 0), 1, target.codec)
    diagnostic = types.Diagnostic(
        range=shown,
        message=_change_message(result, hunk),
        severity=types.DiagnosticSeverity.Information,
        source=SOURCE,
        code=result.id,
        data={"runId": result.id, "hunk": index},  # what minion.applyHunk takes
    )
    edit = None
    if intact:
        replaced = types.Range(_position(lines, start, target.codec), _position(lines, start + old_count, target.codec))
        edit = types.TextEdit(range=replaced, new_text=hunk.new_text)
    return Finding(result.id, diagnostic, index, edit)


def _earlier_round_place(result: RunResult, hunk: Hunk, base: str, target: Target) -> tuple[int, int] | None:
    """Where the user's text holds an earlier round's version of the hunk's lines (they
    applied that round): (start, count) there, so the change applies on top of it."""
    for texts in result.round_texts:
        earlier = texts.get(hunk.path)
        if earlier is None:
            continue
        first, last = line_map(base, earlier).span(hunk.old_first, hunk.old_lines)
        start, intact = line_map(earlier, target.text).region(first, last - first)
        if intact and last > first:
            return start, last - first
    return None


def _already_applied(lines: list[str], start: int, hunk: Hunk, old_lines_deleted: bool) -> bool:
    """The user's text already has the change (applied through us or by hand)."""
    new = split_lines(hunk.new_text)
    return lines[start : start + len(new)] == new if new else old_lines_deleted


def _change_message(result: RunResult, hunk: Hunk) -> str:
    """What the hover says: what the change does and why, then its removed and added lines
    (a few of each), as a diff reads."""
    old, new = split_lines(hunk.old_text), split_lines(hunk.new_text)
    if not old:
        what = f"adds {len(new)} line{'s' * (len(new) != 1)}"
    elif not new:
        what = f"removes {len(old)} line{'s' * (len(old) != 1)}"
    else:
        what = f"replaces {len(old)} line{'s' * (len(old) != 1)} with {len(new)}"
    preview = _preview("-", old) + _preview("+", new)
    message = f"minion {result.id} {what}: {result.why}"
    return "\n".join([message, *preview])


def _preview(sign: str, lines: list[str]) -> list[str]:
    shown = [sign + " " + line.rstrip("\r\n") for line in lines[:PREVIEW_LINES]]
    return shown + ([f"{sign} … {len(lines) - PREVIEW_LINES} more"] if len(lines) > PREVIEW_LINES else [])


def _sensitive_finding(result: RunResult, why: str, target: Target) -> Finding:
    diagnostic = types.Diagnostic(
        range=_range(target.lines, 0, 1, target.codec),
        message=f"minion {result.id} changed this file: {why}. Review it before you merge or apply.",
        severity=types.DiagnosticSeverity.Warning,
        source=SOURCE,
        code=result.id,
    )
    return Finding(result.id, diagnostic)


def _spot_finding(result: RunResult, spot: Spot, spot_text: str, target: Target) -> Finding:
    lines = target.lines
    line, _ = line_map(spot_text, target.text).region(spot.line, 1)
    diagnostic = types.Diagnostic(
        range=_range(lines, min(line, max(len(lines) - 1, 0)), 1, target.codec),
        message=spot.message,
        severity=_SEVERITY[spot.severity],
        source=SOURCE,
        code=result.id,
    )
    return Finding(result.id, diagnostic)


def _position(lines: list[str], index: int, codec: PositionCodec) -> types.Position:
    """The start of line ``index``; past the last line, the end of the text."""
    if index < len(lines) or not lines or lines[-1].endswith("\n"):
        return types.Position(line=index, character=0)
    return types.Position(line=len(lines) - 1, character=codec.client_num_units(lines[-1]))


def _range(lines: list[str], start: int, count: int, codec: PositionCodec) -> types.Range:
    """Lines [start, start+count) without the last line break, so the editor marks just them."""
    if count == 0 or start >= len(lines):
        point = _position(lines, start, codec)
        return types.Range(point, point)
    last = min(start + count, len(lines)) - 1
    end = types.Position(line=last, character=codec.client_num_units(lines[last].rstrip("\r\n")))
    return types.Range(types.Position(line=start, character=0), end)
