"""The review of ended runs: their results shown in the editor as diagnostics on the user's
current text, applied through ``workspace/applyEdit``, and their reports opened.

A result (results.py) is loaded once per run, in a thread; its findings are mapped onto
the open buffer, else the file on disk (diagnostics.py), and republished as the user
types. Results of recent runs come back after a restart; discarded runs never do
(``DismissedRuns``, kept across restarts).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace import PositionCodec, TextDocument

from ..errors import MinionError
from ..runs.model import RunRecord
from ..runs.publish import published_url
from ..state import state_dir
from .diagnostics import Finding, Target, findings, hunk_findings, line_map
from .documents import file_path, read_text
from .edits import EditPlan, plan_edit
from .feature import Feature, command, handles
from .report import report_path, write_report
from .results import RunResult, load_result
from .server import MinionServer
from .wire import ApplyResult, Command, ReportOpened

log = logging.getLogger("minion.lsp")

RECENT_RUNS = 20  # finished runs shown again after a restart
REPUBLISH_DELAY_S = 0.3  # diagnostics follow the user's typing after this pause


class Review(Feature):
    def __init__(self, ls: MinionServer) -> None:
        super().__init__(ls)
        self.results: dict[str, RunResult] = {}  # ended runs shown in the editor
        self.dismissed = DismissedRuns(state_dir() / "lsp" / "dismissed.json")
        self._published: set[str] = set()  # uris that have minion diagnostics
        self._republish: dict[Path, asyncio.TimerHandle] = {}

    async def initialized(self) -> None:
        records = await asyncio.to_thread(self.ls.store.recent, limit=RECENT_RUNS * 5)
        shown = [r for r in records if not r.status.active and r.id not in self.dismissed and self._in_workspace(r)]
        for record in shown[:RECENT_RUNS]:
            await self.show_result(record, just_ended=False)

    def _in_workspace(self, record: RunRecord) -> bool:
        folders = self.ls.workspace_folders()
        repo = Path(record.repo)
        return not folders or any(repo.is_relative_to(f) or f.is_relative_to(repo) for f in folders)

    # --- results -----------------------------------------------------------------------------

    async def show_result(self, record: RunRecord, *, just_ended: bool) -> RunResult | None:
        try:
            result = await asyncio.to_thread(self._load_result, record, just_ended)
        except MinionError as e:  # its repository moved or was deleted since
            log.warning("run %s: its result cannot be shown: %s", record.id, e)
            return None
        if record.id not in self.dismissed:
            others = [other for other in self.results.values() if other.repo == result.repo and other.id != record.id]
            current = await self._current_texts(result, others)
            newer = [other for other in others
                     if other.record.created_at > record.created_at and overlaps(other, result, current)]
            if newer:  # shown after a newer run on the same lines (at start-up): not shown
                log.info("run %s: its result is replaced by run %s's", record.id, newer[0].id)
            else:
                for older in [other for other in others
                              if other.record.created_at < record.created_at and overlaps(other, result, current)]:
                    await self.forget(older.id)  # a newer run's results replace it on those lines
                self.results[record.id] = result
                await self.publish_paths(result, only_open=not just_ended)
        self.ls.refresh_lenses()
        return result

    async def _current_texts(self, result: RunResult, others: list[RunResult]) -> dict[str, str]:
        """The user's text of each file ``result`` shares with ``others`` (to compare lines)."""
        shared = {path for other in others for path in other.paths} & result.paths
        texts = {}
        for path in sorted(shared):
            target = await self.target(result.repo, path)
            if target is not None:
                texts[path] = target.text
        return texts

    def _load_result(self, record: RunRecord, just_ended: bool) -> RunResult:
        result = load_result(record, self.ls.store)
        result.link = published_url(record)
        result.report = report_path(record.id)
        if just_ended or not result.report.exists():
            write_report(record, self.ls.store.nodes(record.id), result.link)
        result.link = result.link or result.report.as_uri()
        return result

    def result_of(self, run_id: str) -> RunResult:
        if run_id not in self.results:
            raise MinionError(f"run {run_id} has no result shown in the editor (see minion.runs)")
        return self.results[run_id]

    async def forget(self, run_id: str) -> None:
        """Stop showing a run's result (it resumes, it was discarded or applied, or a newer
        run replaced it)."""
        result = self.results.pop(run_id, None)
        if result:
            await self.publish_paths(result, only_open=False)
            self.ls.refresh_lenses()

    async def settle(self, run_id: str) -> bool:
        """Once the user's text has every change of the run (applied through minion or by
        hand), the run is reviewed: its diagnostics and lens go, also after a restart."""
        result = self.results.get(run_id)
        if result is None or not result.hunks or not await self.fully_applied(result):
            return False
        log.info("run %s: every change is applied; its result is cleared", run_id)
        await self.dismiss(run_id)
        return True

    async def fully_applied(self, result: RunResult) -> bool:
        for path in result.hunk_indexes:
            target = await self.target(result.repo, path)
            if path not in result.base_texts:  # added by the run
                if target is None or target.text != result.head_texts.get(path):
                    return False
            elif path not in result.head_texts:  # deleted by the run
                if target is not None:
                    return False
            elif target is None or hunk_findings(result, target):
                return False
        return True

    async def dismiss(self, run_id: str) -> None:
        """Stop showing a run's result, also after a restart."""
        await asyncio.to_thread(self.dismissed.add, run_id)
        await self.forget(run_id)

    # --- commands ----------------------------------------------------------------------------

    @command(Command.APPLY)
    async def apply_command(self, *args: Any) -> ApplyResult:
        if not args:
            raise MinionError("minion.apply takes the run id")
        return await self.apply(await self.full_id(args[0]))

    @command(Command.APPLY_HUNK)
    async def apply_hunk_command(self, *args: Any) -> ApplyResult:
        if len(args) != 2 or not isinstance(args[1], int):
            raise MinionError("minion.applyHunk takes the run id and the hunk's index")
        return await self.apply(await self.full_id(args[0]), only=args[1])

    @command(Command.OPEN_REPORT)
    async def open_report_command(self, *args: Any) -> ReportOpened:
        if not args:
            raise MinionError("minion.openReport takes the run id")
        return await self.open_report(await self.full_id(args[0]))

    async def open_report(self, run_id: str) -> ReportOpened:
        try:
            result = self.result_of(run_id)
        except MinionError:
            record = await asyncio.to_thread(self.ls.store.get, run_id)
            result = await asyncio.to_thread(self._load_result, record, False)
        uri = result.link or ""
        external = uri.startswith("http")
        if self.ls.support.show_document:
            await self.ls.window_show_document_async(
                types.ShowDocumentParams(uri=uri, external=external, take_focus=True))
        else:
            self.ls.message(f"minion run {result.id}: {uri}")
        return ReportOpened(uri=uri)

    async def apply(self, run_id: str, only: int | None = None) -> ApplyResult:
        plan = await self.edit_plan(self.result_of(run_id), only)
        edit = plan.workspace_edit()
        if edit is None:
            return ApplyResult(applied=0, skipped=plan.skipped)
        if not self.ls.support.apply_edit:
            raise MinionError("this editor cannot apply edits from a server (workspace/applyEdit)")
        answer = await self.ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=f"minion run {run_id}"))
        if not answer.applied:
            return ApplyResult(applied=0, skipped=plan.applied + plan.skipped, failure_reason=answer.failure_reason)
        # The client sends the edited text (didChange) before it answers; a file it wrote
        # without opening is read from disk.
        await self.settle(run_id)
        return ApplyResult(applied=plan.applied, skipped=plan.skipped)

    async def edit_plan(self, result: RunResult, only: int | None = None) -> EditPlan:
        paths = list(result.hunk_indexes)
        uris = {path: from_fs_path(str(result.repo / path)) or "" for path in paths}
        targets = {path: await self.target(result.repo, path) for path in paths}
        return plan_edit(result, targets, uris, self.ls.support, only)

    # --- diagnostics -------------------------------------------------------------------------

    @handles(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            await self.publish(path)

    @handles(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            self.republish_soon(path)

    @handles(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            self.republish_soon(path)  # back to the text on disk

    async def target(self, repo: Path, path: str) -> Target | None:
        """The current text of a repo file: the open buffer, else the disk (None: no file)."""
        full = repo / path
        doc = self.ls.open_document(full)
        if doc is not None:
            return Target(path, doc.uri, doc.source, doc.position_codec, doc.version)
        text = await asyncio.to_thread(read_text, full)
        if text is None:
            return None
        return Target(path, from_fs_path(str(full)) or "", text, self.ls.workspace.position_codec, None)

    def findings_in(self, doc: TextDocument, path: Path) -> list[Finding]:
        """Every shown result's findings in an open document (no I/O: code actions use it)."""
        return self._findings(path, doc.uri, doc.source, doc.position_codec, doc.version)

    def _findings(self, path: Path, uri: str, text: str, codec: PositionCodec, version: int | None) -> list[Finding]:
        found = []
        for result in self.results.values():
            rel = _relative(path, result.repo)
            if rel is not None and rel in result.paths:
                target = Target(rel, uri, text, codec, version)
                found += findings(result, target, link_support=self.ls.support.code_description)
        return found

    async def publish_paths(self, result: RunResult, *, only_open: bool) -> None:
        for path in sorted(result.paths):
            full = result.repo / path
            if not only_open or self.ls.open_document(full):
                await self.publish(full)

    async def publish(self, path: Path) -> None:
        """Publish every shown result's findings for one file, on its current text."""
        doc = self.ls.open_document(path)
        if doc is not None:
            uri, version, found = doc.uri, doc.version, self.findings_in(doc, path)
        else:
            uri, version = from_fs_path(str(path)) or "", None
            text = await asyncio.to_thread(read_text, path)
            found = [] if text is None else self._findings(path, uri, text, self.ls.workspace.position_codec, None)
        if not found and uri not in self._published:
            return
        (self._published.add if found else self._published.discard)(uri)
        self.ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=[f.diagnostic for f in found], version=version))

    def republish_soon(self, path: Path) -> None:
        """Follow the user's typing: republish once they pause."""
        if path in self._republish:
            self._republish[path].cancel()
        loop = asyncio.get_running_loop()
        self._republish[path] = loop.call_later(REPUBLISH_DELAY_S, lambda: self.ls.spawn(self._republish_now(path)))

    async def _republish_now(self, path: Path) -> None:
        self._republish.pop(path, None)
        for result in list(self.results.values()):  # the change applied by a code action's edit, or by hand
            rel = _relative(path, result.repo)
            if rel is not None and rel in result.hunk_indexes:
                await self.settle(result.id)
        await self.publish(path)


def _regions(result: RunResult, current: dict[str, str]) -> dict[str, list[tuple[int, int]]]:
    """The lines (0-based, inclusive) a result speaks of, carried from the text they are in
    (the run's snapshot or branch) onto the user's current text of each file."""
    regions: dict[str, list[tuple[int, int]]] = {}

    def add(path: str, source: str | None, start: int, count: int) -> None:
        if source is not None and path in current:
            start, _ = line_map(source, current[path]).region(start, count)
        regions.setdefault(path, []).append((start, start + max(count, 1) - 1))

    for hunk in result.hunks:
        add(hunk.path, result.base_texts.get(hunk.path), hunk.old_first, hunk.old_lines)
    for spot in result.check_spots:
        add(spot.path, result.head_texts.get(spot.path), spot.line, 1)
    for spot in result.anchor_spots:
        add(spot.path, result.base_texts.get(spot.path), spot.line, 1)
    anchor = result.record.anchor
    if anchor is not None and anchor.path:
        add(anchor.path, result.base_texts.get(anchor.path), anchor.start_line, anchor.end_line - anchor.start_line + 1)
    return regions


def overlaps(a: RunResult, b: RunResult, current: dict[str, str]) -> bool:
    """Whether two runs' results speak of the same lines of the same repository, once both
    are placed on the user's ``current`` text (path -> text) (a newer one then replaces the
    older: its check errors, its warnings, its changes)."""
    if a.repo != b.repo:
        return False
    theirs = _regions(b, current)
    for path, lines in _regions(a, current).items():
        for start, end in lines:
            if any(start <= other_end and other_start <= end for other_start, other_end in theirs.get(path, [])):
                return True
    return False


def _relative(path: Path, repo: Path) -> str | None:
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else None


class DismissedRuns:
    """Runs the user discarded, kept across restarts (a small JSON list)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.ids: set[str] = set(json.loads(path.read_text()))
        except (OSError, ValueError):
            self.ids = set()

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.ids

    def add(self, run_id: str) -> None:
        self.ids.add(run_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(sorted(self.ids)))
