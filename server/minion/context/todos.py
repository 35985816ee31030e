"""TODO comments addressed to minion, found with tree-sitter.

A marker counts only inside a comment node of the file's grammar, so
`"TODO(minion): x"` in a string literal is not a task. Files without a grammar fall back
to a line match: the marker must follow one of the well-known comment prefixes `#`,
`//`, `--` or `;` at the start of a line (trailing comments are not seen there, as a
string cannot be told from a comment without a parser). Prose files (Markdown, reST,
plain text) are skipped, as `#` starts a heading there.

A TODO never takes a line of the user's. Its text is the rest of the marker's line plus
the comment lines below it that are clearly part of it: lines of the same comment (a
block comment, or one-line comments alone on consecutive lines at the same column) whose
words start indented past the marker's column, counted in characters from the start of
the line::

    // TODO(minion): make xtob handle
    //   upper case                      <- continues the TODO
    // xtob converts hex characters...   <- the user's doc comment: not the TODO's

Any other line ends it: one whose words start at or before the marker's column, a blank
comment line, another marker, a one-line comment with another leader (so `///`, `//!`,
`#'`, `#:`, `---` and `/** */` doc comments end a TODO written with `//`, `#` or `--`),
code, or the end of the comment (Python docstrings are code). A marker that ends its line
takes the next line of its comment as the first line of its text, wherever that line's
words start.

Removing a TODO deletes exactly its bytes (`Todo.start_byte` to `Todo.end_byte`): its own
whole lines with their newline, or, where code shares a line with it, the comment but
not the code. A block comment holding nothing but the TODO goes whole; one holding other
text too keeps that text, its opener and its closer, and loses the TODO's lines only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath
from typing import NamedTuple

from tree_sitter import Node

from ..git import GitError, git
from .languages import LanguageSpec, language_for
from .repomap import repo_relative
from .symbols import end_row

DEFAULT_PATTERNS = ("TODO(minion)", "TODO: minion")

_FALLBACK_PREFIXES = (b"#", b"//", b"--", b";")
_PROSE_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc"})
# Comment syntax around a line's words: the indent and an opener or leader (captured, as
# a one-line comment with another leader ends a TODO), then closers. ASCII, so that the
# syntax's length in characters is its length in bytes.
_LEADER = re.compile(r"^\s*(/\*+!?|//[/!]?|#+[':]?|--\[=*\[|-{2,}|;+|\*+(?!/)|=begin|=end)?", re.ASCII)
_CLOSER = re.compile(r"\s*(?:\*+/|-*\]=*\]|-->)?\s*$", re.ASCII)


@dataclass(frozen=True)
class Todo:
    path: str  # repo-relative, posix
    line: int  # 1-based line of the marker
    column: int  # 1-based column of the marker, in characters
    start_line: int  # the lines removing the TODO touches, 1-based, inclusive
    end_line: int
    text: str  # the task: the marker and comment syntax stripped
    pattern: str  # the marker that matched
    start_byte: int  # removing the TODO deletes the file's bytes [start_byte, end_byte)
    end_byte: int


class _Row(NamedTuple):
    """One line of a comment: its bytes from the comment's start (or the line's) to the
    line's end (or the comment's)."""

    piece: int  # which comment of the group
    start: int
    end: int


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
    """The TODO whose lines cover the 0-based ``line`` (the language server's view)."""
    data = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
    for todo in _scan_document(PurePath(path).as_posix(), data, tuple(patterns)):
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


@lru_cache(maxsize=64)
def _scan_document(path: str, data: bytes, patterns: tuple[str, ...]) -> tuple[Todo, ...]:
    """`_scan` of an open document: the editor asks again for every cursor move and
    keystroke, and a parse of a long file takes a millisecond or more."""
    return tuple(_scan(path, data, patterns))


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
        group = _comment_group(comment, spec.comment_types)
        pieces = [(node.start_byte, node.end_byte) for node in group]
        todos.append(_todo(path, data, offset, pattern, pieces, markers))
    return todos


def _enclosing_comment(root: Node, offset: int, length: int, types) -> Node | None:
    node = root.descendant_for_byte_range(offset, offset + length)
    while node is not None and node.type not in types:
        node = node.parent
    return node


def _comment_group(comment: Node, types) -> list[Node]:
    """A one-line comment and the one-line comments right below it at its column. (One
    after code never continues a TODO: the code starts left of the marker.)"""
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
        group.append(below)
    return group


def _scan_lines(path: str, data: bytes, hits) -> list[Todo]:
    """The fallback: markers after a well-known comment prefix that starts a line; the
    lines below with the same indent and prefix form its comment."""
    markers = [pattern for _, pattern in hits]
    todos = []
    for offset, pattern in hits:
        line_start = _line_start(data, offset)
        lead = _comment_lead(data[line_start : _line_end(data, line_start)])
        if lead is None or offset < line_start + len(lead):
            continue
        indent = len(lead) - len(lead.lstrip())
        pieces = [(line_start + indent, _line_end(data, line_start))]
        below = pieces[-1][1] + 1
        while below < len(data) and data.startswith(lead, below):
            pieces.append((below + indent, _line_end(data, below)))
            below = pieces[-1][1] + 1
        todos.append(_todo(path, data, offset, pattern, pieces, markers))
    return todos


def _comment_lead(line: bytes) -> bytes | None:
    """The indent and comment prefix a line starts with, if it is a comment line."""
    words = line.lstrip()
    prefix = next((p for p in _FALLBACK_PREFIXES if words.startswith(p)), None)
    return None if prefix is None else line[: len(line) - len(words)] + prefix


def _todo(path: str, data: bytes, offset: int, pattern: str, pieces: list[tuple[int, int]], markers) -> Todo:
    """The TODO at the marker ``offset`` in a comment made of ``pieces`` (byte ranges: a
    block comment, or one-line comments on consecutive lines)."""
    rows = _rows(data, pieces, offset)
    marker_column = _column(data, offset)
    first_words = _after_marker(_decode(data[offset + len(pattern.encode()) : rows[0].end]))
    words = [first_words] if first_words else []
    last = rows[0]
    leader = _leader(_decode(data[pieces[0][0] : rows[0].end]))
    for row in rows[1:]:
        text = _decode(data[row.start : row.end])
        if not _continues(data, row, text, pieces, leader, marker_column, markers, first_line=not words):
            break
        words.append(_strip(text))
        last = row

    words_end = _words_end(data, last)
    comment_start, comment_end = pieces[0][0], pieces[last.piece][1]
    if _only_syntax(data[comment_start:offset]) and _only_syntax(data[words_end:comment_end]):
        # The TODO is all there is to these comments: they go, openers and closers too.
        start, end = comment_start, comment_start + len(data[comment_start:comment_end].rstrip())
        leader_before = False
    else:
        # It shares a comment: from the marker on. Its line's leader (` * `) goes with it
        # unless the comment opens on that line (the opener stays, and any text before it).
        start, end = offset, words_end
        leader_before = comment_start < _line_start(data, offset)
    start, end = _whole_lines_or_not(data, start, end, leader_before)
    return Todo(
        path=path,
        line=data.count(b"\n", 0, offset) + 1,
        column=marker_column + 1,
        start_line=data.count(b"\n", 0, start) + 1,
        end_line=data.count(b"\n", 0, end - 1) + 1,
        text="\n".join(words),
        pattern=pattern,
        start_byte=start,
        end_byte=end,
    )


def _continues(data: bytes, row: _Row, text: str, pieces, leader: str, marker_column: int, markers, *,
               first_line: bool) -> bool:
    """Whether the comment ``row`` below a TODO's marker carries on its text (see the module
    docstring); ``first_line``: the TODO has no words yet, its marker ended its line."""
    if not _strip(text) or _has_marker(text, markers):
        return False
    if row.start == pieces[row.piece][0] and _leader(text) != leader:
        return False  # another kind of one-line comment: a doc comment, say
    return first_line or _words_column(_decode(data[_line_start(data, row.start) : row.end])) > marker_column


def _rows(data: bytes, pieces: list[tuple[int, int]], offset: int) -> list[_Row]:
    """The comment's rows from the marker's on."""
    rows = []
    for index, (start, end) in enumerate(pieces):
        position = max(start, _line_start(data, offset)) if index == 0 else start
        while position < end:
            row_end = min(_line_end(data, position), end)
            rows.append(_Row(index, position, row_end))
            position = row_end + 1
    return rows


def _whole_lines_or_not(data: bytes, start: int, end: int, leader_before: bool) -> tuple[int, int]:
    """Widen the TODO's bytes [start, end) to whole lines where nothing else is on them;
    where code or comment text that stays shares a line, only the blanks between go.
    ``leader_before``: what precedes ``start`` on its line may be a leader of the TODO's."""
    line_start, line_end = _line_start(data, start), _line_end(data, end)
    before, after = data[line_start:start], data[end:line_end]
    before_goes = not before.strip() or (leader_before and not _strip(_decode(before)))
    after_goes = not after.strip()
    if before_goes and after_goes:
        return line_start, min(line_end + 1, len(data))  # with the line's newline
    if before_goes:  # what stays after it keeps the line's indent
        return line_start + len(before) - len(before.lstrip()), end + len(after) - len(after.lstrip())
    if after_goes:  # trailing blanks go, a CR of a CRLF line stays
        return start - (len(before) - len(before.rstrip())), end + len(after.rstrip(b"\r"))
    # Between two things that stay, the blanks of one side go: `f(/* TODO */ a)` is `f(a)`.
    if before != before.rstrip():
        return start - (len(before) - len(before.rstrip())), end
    return start, end + len(after) - len(after.lstrip())


def _leader(text: str) -> str:
    return _always(_LEADER.match(text)).group(1) or ""


def _words_column(line: str) -> int:
    """Where a comment line's words start, in characters from the start of the line."""
    rest = line[_always(_LEADER.match(line)).end() :]
    return len(line) - len(rest.lstrip())


def _words_end(data: bytes, row: _Row) -> int:
    """The byte after a row's last word: before trailing blanks and a closer."""
    text = _decode(data[row.start : row.end])
    return row.end - (len(text) - _always(_CLOSER.search(text)).start())  # the tail is ASCII


def _always(match: re.Match[str] | None) -> re.Match[str]:
    """_LEADER and _CLOSER match every string (all they hold is optional)."""
    assert match is not None
    return match


def _only_syntax(data: bytes) -> bool:
    """Whether these comment bytes hold no words: openers, leaders, closers, blanks."""
    return not any(_strip(line) for line in _decode(data).split("\n"))


def _column(data: bytes, offset: int) -> int:
    return len(_decode(data[_line_start(data, offset) : offset]))


def _line_start(data: bytes, offset: int) -> int:
    return data.rfind(b"\n", 0, offset) + 1


def _line_end(data: bytes, offset: int) -> int:
    """The offset of the newline ending the line at ``offset``, or the end of the data."""
    end = data.find(b"\n", offset)
    return len(data) if end < 0 else end


def _after_marker(rest: str) -> str:
    return _CLOSER.sub("", rest).lstrip(" \t:-–—").rstrip()


def _strip(line: str) -> str:
    return _CLOSER.sub("", _LEADER.sub("", line, count=1)).strip()


def _has_marker(text: str, markers) -> bool:
    return any(marker in text for marker in markers)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")
