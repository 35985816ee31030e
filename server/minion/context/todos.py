"""TODO comments addressed to minion, found with tree-sitter.

A marker counts only inside a comment node of the file's grammar, so
`"TODO(minion): x"` in a string literal is not a task. Files without a grammar fall back
to a line match: the marker must follow one of the well-known comment prefixes `#`,
`//`, `--` or `;` at the start of a line (trailing comments are not seen there, as a
string cannot be told from a comment without a parser). Prose files (Markdown, reST,
plain text) are skipped, as `#` starts a heading there.

A TODO's text runs on over the comment lines below it, up to a blank comment line,
another marker or the end of the comment (consecutive line comments at the same column
count as one comment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from tree_sitter import Node

from ..git import GitError, git
from .languages import LanguageSpec, language_for
from .repomap import repo_relative
from .symbols import end_row

DEFAULT_PATTERNS = ("TODO(minion)", "TODO: minion")

_FALLBACK_PREFIXES = ("#", "//", "--", ";")
_PROSE_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc"})
# Comment syntax around a line's words: openers and leaders, then closers.
_LEADER = re.compile(r"^\s*(?:/\*+!?|//[/!]?|#+|--\[=*\[|-{2,}|;+|\*+(?!/)|=begin|=end)?")
_CLOSER = re.compile(r"\s*(?:\*+/|-*\]=*\]|-->)?\s*$")


@dataclass(frozen=True)
class Todo:
    path: str  # repo-relative, posix
    line: int  # 1-based line of the marker
    column: int  # 1-based column of the marker, in characters
    start_line: int  # the whole comment, 1-based, inclusive
    end_line: int
    text: str  # the task: the marker and comment syntax stripped
    pattern: str  # the marker that matched


def find_todos(
    repo_root: Path,
    paths: list[Path | str] | None = None,
    patterns: tuple[str, ...] | list[str] = DEFAULT_PATTERNS,
) -> list[Todo]:
    """TODOs in the files git tracks under ``paths`` (files or folders; default: all).

    Files are read from the work tree, so edits not yet committed count. Sorted by path
    and line.
    """
    root = Path(repo_root)
    todos: list[Todo] = []
    for rel in _files_mentioning(root, paths, patterns):
        try:
            data = (root / rel).read_bytes()
        except OSError:  # vanished since git listed it
            continue
        todos.extend(_scan(rel, data, patterns))
    return sorted(todos, key=lambda t: (t.path, t.line, t.column))


def todo_at(
    path: PurePath | str,
    source: bytes | str,
    line: int,
    patterns: tuple[str, ...] | list[str] = DEFAULT_PATTERNS,
) -> Todo | None:
    """The TODO whose comment covers the 0-based ``line`` (the language server's view)."""
    data = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
    for todo in _scan(PurePath(path).as_posix(), data, patterns):
        if todo.start_line <= line + 1 <= todo.end_line:
            return todo
    return None


def _files_mentioning(root: Path, paths, patterns) -> list[str]:
    """Tracked files that contain a marker anywhere: `git grep` is far faster than parsing.
    It reads regular files only: a tracked file turned into a symlink (to a secret outside
    the repo, say) is not followed."""
    specs = [repo_relative(root, p) for p in paths or ()]
    markers = [arg for pattern in patterns for arg in ("-e", pattern)]
    try:
        out = git("--literal-pathspecs", "grep", "-z", "-l", "-I", "-F", *markers, "--", *specs, cwd=root)
    except GitError as e:
        if e.returncode == 1 and not e.stderr.strip():  # no file matched
            return []
        raise
    return [path for path in out.split("\0") if path]


def _scan(path: str, data: bytes, patterns) -> list[Todo]:
    hits = _marker_hits(data, patterns)
    if not hits:
        return []
    spec = language_for(path)
    if spec is not None:
        return _scan_comments(path, spec, data, hits)
    if PurePath(path).suffix.lower() in _PROSE_SUFFIXES:
        return []
    return _scan_lines(path, data, hits)


def _marker_hits(data: bytes, patterns) -> list[tuple[int, str]]:
    """(byte offset, pattern) of every marker; the longest wins where two start together."""
    best: dict[int, str] = {}
    for pattern in patterns:
        needle = pattern.encode()
        start = data.find(needle)
        while start >= 0:
            if len(pattern) > len(best.get(start, "")):
                best[start] = pattern
            start = data.find(needle, start + 1)
    return sorted(best.items())


def _scan_comments(path: str, spec: LanguageSpec, data: bytes, hits) -> list[Todo]:
    root = spec.parse(data).root_node
    markers = [pattern for _, pattern in hits]
    todos = []
    for offset, pattern in hits:
        comment = _enclosing_comment(root, offset, len(pattern.encode()), spec.comment_types)
        if comment is None:
            continue
        lines = _comment_lines(data, comment, offset + len(pattern.encode()), markers)
        group = _comment_group(comment, spec.comment_types, data, markers)
        lines += [_strip(_node_text(data, below)) for below in group[1:]]
        todos.append(
            _todo(path, data, offset, pattern, comment.start_point.row, end_row(group[-1]), lines)
        )
    return todos


def _enclosing_comment(root: Node, offset: int, length: int, types) -> Node | None:
    node = root.descendant_for_byte_range(offset, offset + length)
    while node is not None and node.type not in types:
        node = node.parent
    return node


def _comment_lines(data: bytes, comment: Node, after: int, markers) -> list[str]:
    """The marker's line after the marker, then the comment's own lines below it."""
    first, *below = data[after : comment.end_byte].decode("utf-8", "replace").split("\n")
    lines = [_after_marker(first)]
    for raw in below:
        if _has_marker(raw, markers):
            break
        lines.append(_strip(raw))
    return lines


def _comment_group(comment: Node, types, data: bytes, markers) -> list[Node]:
    """A one-line comment and the one-line comments right below it at its column."""
    group = [comment]
    while end_row(group[-1]) == group[-1].start_point.row:
        below = group[-1].next_sibling
        if (
            below is None
            or below.type not in types
            or below.start_point.row != group[-1].start_point.row + 1
            or below.start_point.column != comment.start_point.column
            or end_row(below) != below.start_point.row
        ):
            break
        text = _node_text(data, below)
        if not _strip(text) or _has_marker(text, markers):
            break
        group.append(below)
    return group


def _scan_lines(path: str, data: bytes, hits) -> list[Todo]:
    """The fallback: markers after a well-known comment prefix that starts a line."""
    rows = data.decode("utf-8", "replace").split("\n")
    markers = [pattern for _, pattern in hits]
    todos = []
    for offset, pattern in hits:
        row = data.count(b"\n", 0, offset)
        lead = _comment_lead(rows[row])
        column = len(data[data.rfind(b"\n", 0, offset) + 1 : offset].decode("utf-8", "replace"))
        if lead is None or column < len(lead):
            continue
        lines = [_after_marker(rows[row][column + len(pattern) :])]
        end = row
        for below in rows[row + 1 :]:
            if not below.startswith(lead) or not _strip(below) or _has_marker(below, markers):
                break
            lines.append(_strip(below))
            end += 1
        todos.append(_todo(path, data, offset, pattern, row, end, lines))
    return todos


def _comment_lead(line: str) -> str | None:
    """The indent and comment prefix a line starts with, if it is a comment line."""
    words = line.lstrip()
    prefix = next((p for p in _FALLBACK_PREFIXES if words.startswith(p)), None)
    return None if prefix is None else line[: len(line) - len(words)] + prefix


def _todo(path, data, offset, pattern, first_row, last_row, lines) -> Todo:
    lines = lines[1:] if lines and not lines[0] else lines  # the task may start below the marker
    if "" in lines:  # a blank comment line ends the task's paragraph
        lines = lines[: lines.index("")]
    line_start = data.rfind(b"\n", 0, offset) + 1
    return Todo(
        path=path,
        line=data.count(b"\n", 0, offset) + 1,
        column=len(data[line_start:offset].decode("utf-8", "replace")) + 1,
        start_line=first_row + 1,
        end_line=last_row + 1,
        text="\n".join(lines),
        pattern=pattern,
    )


def _after_marker(rest: str) -> str:
    return _CLOSER.sub("", rest).lstrip(" \t:-–—").rstrip()


def _strip(line: str) -> str:
    return _CLOSER.sub("", _LEADER.sub("", line, count=1)).strip()


def _has_marker(text: str, markers) -> bool:
    return any(marker in text for marker in markers)


def _node_text(data: bytes, node: Node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace")
