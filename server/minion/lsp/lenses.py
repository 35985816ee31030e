"""CodeLens on the TODO lines handed off to minion: the run's status, one click away from
cancelling it (while it works) or its report (once it ended).

The TODO's line is carried from the text it was handed off in to the current text, like
diagnostics are. Clients that support ``workspace/codeLens/refresh`` are asked to refresh
when a run starts, changes node or ends; the others refresh lenses on their own.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.workspace import TextDocument

from ..runs.model import RunRecord
from .diagnostics import line_map
from .documents import file_path
from .feature import Feature, handles
from .review import Review
from .runs import Runs
from .server import MinionServer
from .wire import Command


class Lenses(Feature):
    def __init__(self, ls: MinionServer, runs: Runs, review: Review) -> None:
        super().__init__(ls)
        self.runs, self.review = runs, review

    @handles(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(self, params: types.CodeLensParams) -> list[types.CodeLens] | None:
        path = file_path(params.text_document.uri)
        if path is None:
            return None
        doc = self.ls.workspace.get_text_document(params.text_document.uri)
        return self._live_lenses(doc, path) + self._result_lenses(doc, path) or None

    def _live_lenses(self, doc: TextDocument, path: Path) -> list[types.CodeLens]:
        lenses = []
        for progress in self.runs.live.values():
            todo = _todo_path(progress.record)
            if not (todo and progress.status.active and progress.anchor_text is not None):
                continue  # an ended run's lens is its result's
            if path == Path(progress.record.repo) / todo[0]:
                doing = f" · {progress.node}" if progress.node else ""
                title = f"minion {progress.status.value}{doing} (cancel)"
                lenses.append(_lens(progress.anchor_text, todo[1], doc, title, Command.CANCEL, progress.run_id))
        return lenses

    def _result_lenses(self, doc: TextDocument, path: Path) -> list[types.CodeLens]:
        lenses = []
        for result in self.review.results.values():
            todo = _todo_path(result.record)
            if todo and todo[0] in result.base_texts and path == result.repo / todo[0]:
                record = result.record
                files = f"{len(record.files)} file{'s' * (len(record.files) != 1)}"
                title = f"minion {record.status.value} · {files} · open report"
                lenses.append(_lens(result.base_texts[todo[0]], todo[1], doc, title, Command.OPEN_REPORT, record.id))
        return lenses


def _todo_path(record: RunRecord) -> tuple[str, int] | None:
    anchor = record.anchor
    if anchor is None or anchor.kind != "todo" or not anchor.path:
        return None
    return anchor.path, anchor.start_line


def _lens(base_text: str, line: int, doc: TextDocument, title: str, command: str, run_id: str) -> types.CodeLens:
    current, _ = line_map(base_text, doc.source).region(line, 1)
    position = types.Position(line=current, character=0)
    return types.CodeLens(
        range=types.Range(position, position),
        command=types.Command(title=title, command=command, arguments=[run_id]),
    )
