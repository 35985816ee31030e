"""The agent's tools: Anthropic's text editor and bash, plus minion's `search` and `outline`.

The agent sees the run's worktree at the user's repo path. Every path it gives is mapped
into the worktree on the host, and every host-side read or write of it goes through
`minion.pathguard`: paths outside the repo, through `..` or a symlink (of the file or of any
folder above it), or into `.git` are refused with an error result and never touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import pathguard
from ..errors import MinionError
from ..git import git
from ..sandbox import Sandbox
from .prompt import left_out_note

EDITOR = "str_replace_based_edit_tool"
VIEW_LIMIT_CHARS = 40_000
SEARCH_LIMIT = 200
MAX_FILE_BYTES = pathguard.MAX_FILE_BYTES  # larger files are read with bash, not loaded whole


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    edited: bool = False  # the call changed a file through the editor
    ran: bool = False  # the call ran a command that may build, test or change things

    @property
    def progress(self) -> bool:
        """Whether the call did more than read: what stuck detection looks for."""
        return self.edited or self.ran


# Shell commands that only read. A turn made of these and of views and searches is no
# progress; a command with any other program in it counts as running a check.
READ_ONLY_COMMANDS = {
    "cat", "head", "tail", "less", "ls", "tree", "find", "grep", "egrep", "rg", "ag", "wc", "file",
    "stat", "pwd", "cd", "echo", "printf", "sed", "awk", "sort", "uniq", "cut", "diff", "du", "which", "true",
}
READ_ONLY_GIT = {"log", "show", "diff", "status", "grep", "blame", "ls-files"}


class Tools(Protocol):
    """What an agent node calls: `Toolset`, or a node's tools with MCP's (mcp_servers/toolbox.py)."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, tool_input: dict[str, Any]) -> ToolResult: ...


class ToolRefused(Exception):
    """A tool input that minion will not run; the message goes back to the model."""


TOOL_DEFINITIONS: list[dict[str, Any]] = [
    {"type": "text_editor_20250728", "name": EDITOR, "max_characters": VIEW_LIMIT_CHARS},
    {"type": "bash_20250124", "name": "bash"},
    {
        "name": "search",
        "description": (
            "Search the repository's files (honouring .gitignore) for a Python regular "
            "expression. Returns matching lines as path:line: text."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Python regular expression"},
                "path": {"type": "string", "description": "Folder or file to search in (default: the repo)"},
                "glob": {"type": "string", "description": "Only files matching this glob, e.g. *.py"},
                "ignore_case": {"type": "boolean"},
            },
            "required": ["pattern"],
        },
    },
    {
        "name": "outline",
        "description": "List a source file's symbols (classes, functions, methods) with their line numbers.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
]


class Toolset:
    def __init__(self, repo_path: Path, worktree: Path, sandbox: Sandbox, command_timeout: float,
                 left_out: Callable[[], list[str]] | None = None):
        """``left_out`` says what the commit would leave out of the branch now (one line each):
        after a call that changed things, what it newly names goes back with the result."""
        self.repo_path = repo_path
        self.worktree = worktree
        self.real_worktree = worktree.resolve()
        self.sandbox = sandbox
        self.command_timeout = command_timeout
        self.left_out = left_out
        self._told: set[str] = set()

    def definitions(self) -> list[dict[str, Any]]:
        return TOOL_DEFINITIONS

    async def call(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        result = await self._call(name, tool_input)
        if result.progress and self.left_out:
            try:
                now = self.left_out()
            except MinionError as e:  # the call's own result must still reach the model
                result.content += f"\n\n(minion could not check what the commit would leave out: {e})"
                return result
            new = [line for line in now if line not in self._told]
            self._told = set(now)
            if new:
                result.content += "\n\n" + left_out_note(new)
        return result

    async def _call(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        try:
            if name == EDITOR:
                return self._edit(tool_input)
            if name == "bash":
                return await self._bash(tool_input)
            if name == "search":
                return self._search(tool_input)
            if name == "outline":
                return self._outline(tool_input)
            return ToolResult(f"unknown tool '{name}'", is_error=True)
        except (ToolRefused, pathguard.PathRefused) as e:
            return ToolResult(str(e), is_error=True)
        except (KeyError, TypeError) as e:
            return ToolResult(f"bad input for {name}: missing or wrong parameter {e}", is_error=True)

    # paths

    def host_path(self, given: str) -> Path:
        """The real host path in the worktree of a path the agent gave (absolute under the
        repo, or repo-relative); pathguard.PathRefused if it escapes the worktree."""
        if not isinstance(given, str) or not given:
            raise ToolRefused("a non-empty 'path' is required")
        return pathguard.resolve(self.worktree, given, self.repo_path)

    def shown_path(self, host: Path) -> str:
        """A real host path in the worktree as the agent sees it, under the repo path."""
        return str(self.repo_path / host.relative_to(self.real_worktree))

    # text editor

    def _edit(self, args: dict[str, Any]) -> ToolResult:
        command = args["command"]
        given = args["path"]
        path = self.host_path(given)
        if command == "view":
            return self._view(given, path, args.get("view_range"))
        if command == "create":
            if path.is_dir():
                raise ToolRefused(f"{given} is a directory")
            self._write(given, args["file_text"], make_parents=True)
            return ToolResult(f"Created {self.shown_path(path)}", edited=True)
        if command == "str_replace":
            return self._str_replace(given, path, args["old_str"], args.get("new_str", ""))
        if command == "insert":
            text = args.get("insert_text", args.get("new_str"))
            if text is None:
                raise ToolRefused("insert needs 'insert_text'")
            return self._insert(given, path, int(args["insert_line"]), text)
        if command == "undo_edit":
            raise ToolRefused("undo_edit is not supported; use str_replace to revert")
        raise ToolRefused(f"unknown command '{command}': use view, create, str_replace or insert")

    def _read(self, given: str) -> str:
        """The file's text. Bytes that are not UTF-8 survive an edit (surrogateescape)."""
        try:
            data = pathguard.read_bytes(self.worktree, given, max_bytes=MAX_FILE_BYTES, repo_path=self.repo_path)
        except pathguard.TooLarge as e:
            raise ToolRefused(f"{e}: use bash (head, sed)") from None
        if b"\0" in data[:8192]:
            raise ToolRefused(f"{given} is a binary file")
        return data.decode("utf-8", errors="surrogateescape")

    def _write(self, given: str, text: str, make_parents: bool = False) -> None:
        data = text.encode("utf-8", errors="surrogateescape")
        pathguard.write_bytes(self.worktree, given, data, repo_path=self.repo_path, make_parents=make_parents)

    def _view(self, given: str, path: Path, view_range: list[int] | None) -> ToolResult:
        if path.is_dir():
            return ToolResult(self._list_dir(path))
        lines = self._read(given).splitlines()
        start, end = 1, len(lines)
        if view_range:
            start, end = int(view_range[0]), int(view_range[1])
            if end == -1:
                end = len(lines)
            if not (1 <= start <= max(end, 1)) or end > len(lines):
                raise ToolRefused(f"view_range {view_range} is out of range: the file has {len(lines)} lines")
        numbered = "\n".join(f"{n:6}\t{lines[n - 1]}" for n in range(start, end + 1))
        if len(numbered) > VIEW_LIMIT_CHARS:
            numbered = numbered[:VIEW_LIMIT_CHARS] + "\n… [truncated: use view_range to see more]"
        return ToolResult(numbered)

    def _list_dir(self, path: Path) -> str:
        entries = []
        for root, dirs, files in os.walk(path):
            rel = Path(root).relative_to(path)
            dirs[:] = sorted(d for d in dirs if d != ".git" and len(rel.parts) < 1)
            for name in sorted(dirs) + sorted(files):
                entries.append(self.shown_path(Path(root) / name))
        return "\n".join(entries[:500])

    def _str_replace(self, given: str, path: Path, old: str, new: str) -> ToolResult:
        text = self._read(given)
        count = text.count(old) if old else 0
        if count == 0:
            raise ToolRefused(
                f"old_str was not found in {self.shown_path(path)}; view the file and copy the text exactly"
            )
        if count > 1:
            lines = [text[: m.start()].count("\n") + 1 for m in re.finditer(re.escape(old), text)]
            raise ToolRefused(
                f"old_str occurs {count} times (lines {lines}); include more context to make it unique"
            )
        self._write(given, text.replace(old, new, 1))
        line = text[: text.index(old)].count("\n") + 1
        return ToolResult(f"Edited {self.shown_path(path)} at line {line}", edited=True)

    def _insert(self, given: str, path: Path, after_line: int, text: str) -> ToolResult:
        lines = self._read(given).splitlines(keepends=True)
        if not 0 <= after_line <= len(lines):
            raise ToolRefused(f"insert_line {after_line} is out of range 0..{len(lines)}")
        if lines and not lines[-1].endswith("\n") and after_line == len(lines):
            lines[-1] += "\n"
        lines.insert(after_line, text if text.endswith("\n") else text + "\n")
        self._write(given, "".join(lines))
        return ToolResult(f"Inserted text after line {after_line} of {self.shown_path(path)}", edited=True)

    # bash, search, outline

    async def _bash(self, args: dict[str, Any]) -> ToolResult:
        if args.get("restart"):
            return ToolResult("Every command runs in a fresh shell at the repo root; nothing to restart.")
        command = args["command"]
        result = await self.sandbox.run(command, timeout_s=self.command_timeout)
        status = "timed out and was killed" if result.timed_out else f"exit code {result.exit_code}"
        return ToolResult(
            f"{result.output}\n[{status}]".lstrip("\n"),
            is_error=result.exit_code != 0,
            ran=not only_reads(command),
        )

    def _search(self, args: dict[str, Any]) -> ToolResult:
        try:
            regex = re.compile(args["pattern"], re.IGNORECASE if args.get("ignore_case") else 0)
        except re.error as e:
            raise ToolRefused(f"bad regular expression: {e}") from None
        scope = self.host_path(args.get("path") or ".")
        listing = git(
            "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", str(scope),
            cwd=self.worktree,
        )
        glob = args.get("glob")
        hits: list[str] = []
        for rel in filter(None, listing.split("\0")):
            if glob and not Path(rel).match(glob):
                continue
            if os.path.islink(self.worktree / rel):
                continue  # a link inside the tree is searched where it leads; one outside, never
            try:
                text = pathguard.read_bytes(self.worktree, rel, max_bytes=MAX_FILE_BYTES).decode("utf-8")
            except (pathguard.PathRefused, UnicodeDecodeError):
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{self.repo_path / rel}:{n}: {line.strip()[:300]}")
                    if len(hits) >= SEARCH_LIMIT:
                        hits.append(f"… [stopped at {SEARCH_LIMIT} matches: narrow the pattern or path]")
                        return ToolResult("\n".join(hits))
        return ToolResult("\n".join(hits) or "no matches")

    def _outline(self, args: dict[str, Any]) -> ToolResult:
        from ..context import render_outline

        given = args["path"]
        path = self.host_path(given)
        return ToolResult(render_outline(Path(self.shown_path(path)), self._read(given)))


def only_reads(command: str) -> bool:
    """Whether every program in a shell command line is one that only reads (a heuristic)."""
    for segment in re.split(r"&&|\|\||[;|\n]", command):
        if ">" in re.sub(r"\d?>&\d|\d?>\s*/dev/null", "", segment):
            return False  # writes a file
        words = segment.split()
        if not words:
            continue
        if words[0] == "git" and len(words) > 1 and words[1] in READ_ONLY_GIT:
            continue
        if words[0] not in READ_ONLY_COMMANDS or (words[0] == "sed" and "-i" in words):
            return False
    return True
