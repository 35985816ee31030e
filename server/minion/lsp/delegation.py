"""What a delegate action becomes: the ``minion.delegate`` argument, the task and its anchor.

The argument is the protocol contract (docs/lsp.md, wire.Delegation): ``{uri, range,
kind, instruction, diagnostic, text, version, force}``. A client that prompts fills in ``instruction``;
otherwise the task comes from what the action points at: the selection and its
surroundings, the TODO's own text, or the diagnostic's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.workspace import TextDocument

from ..context import Anchor, todo_at
from ..errors import MinionError
from ..git import git
from . import wire
from .documents import read_text

KINDS: tuple[str, ...] = get_args(wire.Delegation.model_fields["kind"].annotation)
_converter = get_converter()


@dataclass(frozen=True)
class Delegation:
    uri: str
    range: types.Range
    kind: str  # one of KINDS
    instruction: str | None = None
    diagnostic: dict[str, Any] | None = None  # {message, source, code}
    text: str | None = None  # the anchor's text when offered (guard.relocate finds it again)
    version: int | None = None  # the document's version when offered
    force: bool = False  # start even when the anchor has a run already (guard.py)

    def argument(self) -> dict[str, Any]:
        given: dict[str, Any] = {"text": self.text, "version": self.version} if self.text is not None else {}
        if self.force:
            given["force"] = True
        return wire.Delegation(uri=self.uri, range=_converter.unstructure(self.range), kind=self.kind,
                               instruction=self.instruction, diagnostic=self.diagnostic, **given).dump()

    @classmethod
    def parse(cls, argument: Any) -> Delegation:
        if not isinstance(argument, dict) or not {"uri", "range"} <= argument.keys():
            raise MinionError("minion.delegate takes one object: {uri, range, kind, instruction, diagnostic}")
        kind = argument.get("kind") or "selection"
        if kind not in KINDS:
            raise MinionError(f"minion.delegate: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        try:
            selected = _converter.structure(argument["range"], types.Range)
        except Exception as e:
            raise MinionError(f"minion.delegate: not a range: {argument['range']!r}") from e
        instruction = argument.get("instruction")
        diagnostic = argument.get("diagnostic")
        text, version = argument.get("text"), argument.get("version")
        return cls(
            uri=argument["uri"],
            range=selected,
            kind=kind,
            instruction=instruction.strip() if isinstance(instruction, str) and instruction.strip() else None,
            diagnostic=diagnostic if isinstance(diagnostic, dict) else None,
            text=text if isinstance(text, str) and text else None,
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
            force=argument.get("force") is True,
        )


def task_and_anchor(delegation: Delegation, doc: TextDocument, rel: str,
                    todo_patterns: list[str]) -> tuple[str, Anchor]:
    """The task text and the anchor for a delegation on a document, the repo's file ``rel``."""
    if delegation.kind == "todo":
        task, anchor = _todo(delegation, doc, rel, todo_patterns)
    elif delegation.kind == "diagnostic":
        task, anchor = _diagnostic(delegation, rel)
    else:
        task, anchor = _selection(delegation, doc, rel)
    return delegation.instruction or task, anchor


def _todo(delegation: Delegation, doc: TextDocument, rel: str, todo_patterns: list[str]) -> tuple[str, Anchor]:
    line = delegation.range.start.line
    todo = todo_at(rel, doc.source, line, todo_patterns)
    if todo is None:
        raise MinionError(f"no TODO for minion at {rel}:{line + 1} (patterns: {', '.join(todo_patterns)})")
    return todo.text, Anchor("todo", rel, todo.start_line - 1, todo.end_line - 1, todo.text)


def _diagnostic(delegation: Delegation, rel: str) -> tuple[str, Anchor]:
    diagnostic = delegation.diagnostic or {}
    message = str(diagnostic.get("message") or "").strip()
    if not message and not delegation.instruction:
        raise MinionError("minion.delegate: a diagnostic delegation needs the diagnostic's message")
    source, code = diagnostic.get("source"), diagnostic.get("code")
    start = delegation.range.start.line
    anchor = Anchor("diagnostic", rel, start, last_line(delegation.range), message, source,
                    str(code) if code is not None else None)
    label = " ".join(str(x) for x in (source, code) if x)
    return f"Fix this problem{f' ({label})' if label else ''} reported at {rel}:{start + 1}: {message}", anchor


def _selection(delegation: Delegation, doc: TextDocument, rel: str) -> tuple[str, Anchor]:
    selected = doc.text_in_client_range(delegation.range)
    if not selected.strip() and not delegation.instruction:
        raise MinionError("minion.delegate: the selection is empty; select code or give an instruction")
    start, end = delegation.range.start.line, last_line(delegation.range)
    # The anchor shows the agent the selection and the code around it.
    task = (f"Work on the code selected in {rel}, lines {start + 1}-{end + 1}: do what its comments and "
            f"the code around it ask for, or complete it.")
    return task, Anchor("selection", rel, start, end, selected)


def last_line(selected: types.Range) -> int:
    """The last line a range covers: a range ending at column 0 stops at the line before."""
    if selected.end.character == 0 and selected.end.line > selected.start.line:
        return selected.end.line - 1
    return selected.end.line


def _in_git_dir_or_nested_repo(repo: Path, path: Path) -> bool:
    """A buffer under .git (COMMIT_EDITMSG) or in a nested repository is not this repo's file."""
    parts = path.relative_to(repo).parts
    if ".git" in parts:
        return True
    return any((repo.joinpath(*parts[:i]) / ".git").exists() for i in range(1, len(parts)))


def unsaved_buffers(repo: Path, buffers: dict[str, str]) -> dict[str, str]:
    """The open documents of this repo whose text differs from the file on disk, except
    files git ignores (an open .env must not reach the agent). Runs in a thread."""
    dirty = {}
    for name, text in buffers.items():
        path = Path(name)
        if not path.is_relative_to(repo) or _in_git_dir_or_nested_repo(repo, path):
            continue
        if text != read_text(path):
            dirty[path.relative_to(repo).as_posix()] = text
    if not dirty:
        return {}
    listed = "\0".join(dirty).encode("utf-8", "surrogateescape")
    # --no-index: a path under a symlink or a submodule must not stop the check of the others.
    ignored = git("check-ignore", "-z", "--no-index", "--stdin", cwd=repo, input=listed, check=False).split("\0")
    return {rel: text for rel, text in dirty.items() if rel not in ignored}
