"""A run looked into from the editor: its nodes, its live log, the files it changed and
either side of each (the editors' runs view, log panel and diff view read these).

Everything here reads the store, the event log or git, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from ..errors import MinionError
from ..git import git
from ..runs.events import describe, log_path, read_events
from ..runs.model import RunRecord
from ..snapshot import Hunk, hunks
from .feature import Feature, command
from .results import read_blobs
from .wire import (
    Command,
    FileAtQuery,
    FileChange,
    FileText,
    HunkSpan,
    LogLine,
    NodeRow,
    RunFiles,
    RunLog,
    RunLogQuery,
    RunRef,
)

MAX_LOG_LINES = 2000  # one answer of minion.runLog; the next poll gets the rest
Change = Literal["added", "modified", "deleted", "renamed"]
_CHANGES: dict[str, Change] = {"A": "added", "M": "modified", "T": "modified", "D": "deleted", "C": "added"}


class RunView(Feature):
    @command(Command.RUN_NODES)
    async def run_nodes_command(self, *args: Any) -> list[NodeRow]:
        ref = self.argument(Command.RUN_NODES, RunRef, args, ("runId",))
        run_id = await self.full_id(ref.run_id)
        nodes = await asyncio.to_thread(self.ls.store.nodes, run_id)
        return [NodeRow(seq=n.seq, name=n.name, kind=n.kind, status=n.status, summary=n.summary,
                        started_at=n.started_at, ended_at=n.ended_at) for n in nodes]

    @command(Command.RUN_LOG)
    async def run_log_command(self, *args: Any) -> RunLog:
        query = self.argument(Command.RUN_LOG, RunLogQuery, args, ("runId", "after"))
        run_id = await self.full_id(query.run_id)
        return await asyncio.to_thread(run_log, run_id, max(0, query.after))

    @command(Command.RUN_FILES)
    async def run_files_command(self, *args: Any) -> RunFiles:
        ref = self.argument(Command.RUN_FILES, RunRef, args, ("runId",))
        record = await asyncio.to_thread(self.ls.store.get, await self.full_id(ref.run_id))
        return await asyncio.to_thread(run_files, record)

    @command(Command.FILE_AT)
    async def file_at_command(self, *args: Any) -> FileText:
        query = self.argument(Command.FILE_AT, FileAtQuery, args, ("runId", "path", "side"))
        record = await asyncio.to_thread(self.ls.store.get, await self.full_id(query.run_id))
        return await asyncio.to_thread(file_at, record, query.path, query.side)


def log_line(event: dict[str, Any]) -> str | None:
    """An event as the terminal shows it, and the run's own start and end."""
    kind = event.get("type")
    if kind in ("run.start", "run.resume"):
        return f"run {'resumed' if kind == 'run.resume' else 'started'}: {event.get('blueprint', '')}".rstrip(": ")
    if kind == "run.end":
        return f"run ended: {event.get('status', '?')}"
    try:
        return describe(event)
    except (KeyError, TypeError, ValueError):  # an event of another version of minion
        return None


def run_log(run_id: str, after: int) -> RunLog:
    """The run's events from index ``after`` on, one line each."""
    events = read_events(log_path(run_id))
    lines: list[LogLine] = []
    index = after
    for index in range(after, len(events)):
        if len(lines) >= MAX_LOG_LINES:
            break
        event = events[index]
        text = log_line(event)
        if text:
            lines.append(LogLine(ts=float(event.get("ts") or 0.0), text=text))
    else:
        index = max(after, len(events))
    return RunLog(lines=lines, next=index)


def _sides(record: RunRecord) -> tuple[str, str]:
    if not record.base:
        raise MinionError(f"run {record.id} has no snapshot yet: nothing to compare")
    return record.base, record.head or record.base


def run_files(record: RunRecord) -> RunFiles:
    """The files the run changed, base (the snapshot) to head (its branch's commit)."""
    base, head = _sides(record)
    files: list[FileChange] = []
    if head != base:
        out = git("diff", "--name-status", "-z", "-M", "--no-ext-diff", base, head, cwd=Path(record.repo))
        fields = out.split("\0")
        i = 0
        while i < len(fields) and fields[i]:
            letter = fields[i][0]
            if letter in "RC":
                old, new = fields[i + 1], fields[i + 2]
                i += 3
                if letter == "R":
                    files.append(FileChange(path=new, change="renamed", old_path=old))
                else:
                    files.append(FileChange(path=new, change="added"))
            else:
                files.append(FileChange(path=fields[i + 1], change=_CHANGES.get(letter, "modified")))
                i += 2
    spans: dict[str, list[HunkSpan]] = {}
    for index, hunk in enumerate(hunks(Path(record.repo), base, head) if files else []):
        spans.setdefault(hunk.path, []).append(hunk_span(index, hunk))
    for file in files:  # git counts a rename's edits as a deletion plus an addition
        file.hunks = spans.get(file.path, []) if file.change != "renamed" else []
    return RunFiles(base=base, head=head, files=files)


def hunk_span(index: int, hunk: Hunk) -> HunkSpan:
    return HunkSpan(index=index, base_start=hunk.old_first, base_count=hunk.old_lines,
                    head_start=hunk.new_first, head_count=hunk.new_lines)


def file_at(record: RunRecord, path: str, side: str) -> FileText:
    """A file's text at the run's base or head; None when it has no such file there."""
    if not path or "\n" in path or path.startswith("/") or ".." in Path(path).parts:
        raise MinionError(f"minion.fileAt: not a repo-relative path: {path!r}")
    base, head = _sides(record)
    texts = read_blobs(Path(record.repo), base if side == "base" else head, {path})
    return FileText(text=texts.get(path))
