"""Where a task points: a selection, a TODO comment or a diagnostic, and how the agent sees it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import pathguard
from .symbols import Symbol, outline

_MAX_ANCHOR_LINES = 200  # of a long selection, the first ones are shown
_MAX_SELECTED_CHARS = 2000  # a longer selection is shown only as marked lines


@dataclass
class Anchor:
    kind: Literal["selection", "todo", "diagnostic", "none"] = "none"
    path: str | None = None  # repo-relative, posix
    start_line: int = 0  # 0-based, inclusive (LSP lines)
    end_line: int = 0  # 0-based, inclusive
    text: str = ""  # the selected text, the TODO's task or the diagnostic's message
    source: str | None = None  # a diagnostic's source ("ruff", "pyright" …)
    code: str | None = None  # a diagnostic's code ("F401" …)


def render_anchor(root: Path, anchor: Anchor, window: int = 20) -> str:
    """The anchor for the prompt: what it is, its enclosing symbol and the file around it.

    ``root`` is the tree to read the file from (the run's worktree, or the repo).
    Lines are shown 1-based, as people and the editor tool count them.
    """
    if anchor.kind == "none":
        return ""
    parts = [_headline(anchor)]
    if anchor.path is None:
        return parts[0]
    try:
        source = pathguard.read_bytes(Path(root), anchor.path)
    except pathguard.PathRefused:
        return f"{parts[0]}\n({anchor.path} is not in the repository.)"
    if anchor.kind == "selection" and anchor.text and len(anchor.text) <= _MAX_SELECTED_CHARS:
        parts.append(f"Selected text:\n```\n{anchor.text}\n```")
    chain = _enclosing(outline(anchor.path, source), anchor.start_line + 1)
    if chain:
        inner = chain[-1]
        names = " > ".join(f"{s.kind} {s.name}" for s in chain)
        parts.append(f"Inside {names} (lines {inner.line}-{inner.end_line}): {inner.signature}")
    parts.append(_excerpt(anchor, source.decode("utf-8", "replace").splitlines(), window))
    return "\n\n".join(parts)


def _headline(anchor: Anchor) -> str:
    where = _where(anchor)
    if anchor.kind == "todo":
        return f"TODO comment at {where}:\n{anchor.text}"
    if anchor.kind == "diagnostic":
        label = " ".join(str(x) for x in (anchor.source, anchor.code) if x)
        return f"Diagnostic{f' ({label})' if label else ''} at {where}:\n{anchor.text}"
    return f"Selection at {where}."


def _where(anchor: Anchor) -> str:
    if anchor.path is None:
        return "an unsaved buffer"
    first, last = anchor.start_line + 1, anchor.end_line + 1
    return f"{anchor.path}:{first}" if first == last else f"{anchor.path}:{first}-{last}"


def _enclosing(symbols: list[Symbol], line: int) -> list[Symbol]:
    """The symbols containing 1-based ``line``, outermost first."""
    for symbol in symbols:
        if symbol.line <= line <= symbol.end_line:
            return [symbol, *_enclosing(symbol.children, line)]
    return []


def _excerpt(anchor: Anchor, lines: list[str], window: int) -> str:
    """The anchor's lines (marked with »), with ``window`` lines of context either side."""
    start, end = anchor.start_line, anchor.end_line
    shown_end = min(end, start + _MAX_ANCHOR_LINES - 1)
    before_and_anchor = range(max(0, start - window), min(len(lines), shown_end + 1))
    after = range(end + 1, min(len(lines), end + 1 + window))
    last = max(after.stop, before_and_anchor.stop)  # 1-based number of the last line shown
    width = len(str(last))

    def row(index: int) -> str:
        mark = "»" if start <= index <= end else " "
        return f"{mark}{index + 1:>{width}}  {lines[index]}".rstrip()

    rows = [row(i) for i in before_and_anchor]
    if shown_end < end:
        rows.append(f"  … {end - shown_end} more lines of the selection")
    rows += [row(i) for i in after]
    if not rows:
        return f"{anchor.path} has only {len(lines)} lines."
    return f"{anchor.path}, lines {before_and_anchor.start + 1}-{last}:\n" + "\n".join(rows)
