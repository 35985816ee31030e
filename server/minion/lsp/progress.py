"""What the user sees of a run while it works.

With work-done progress: a server-created, cancellable ``$/progress`` with one report
per blueprint node and per agent turn and tool call. Without it: a ``window/showMessage``
when the run starts (the end of every run is announced, see runs.py). Either way,
``minion/runStatus`` notifications (wire.RunStatus) feed the plugins' status items.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..runs.events import describe
from ..runs.model import RunRecord, Status
from .wire import RUN_STATUS, RunStatus

if TYPE_CHECKING:
    from .server import MinionServer

log = logging.getLogger("minion.lsp.progress")


@dataclass
class RunProgress:
    """One active run as the editor sees it: status, current node, the progress token."""

    ls: MinionServer
    record: RunRecord
    on_cancel: Callable[[str], Any]
    active_runs: Callable[[], int]  # how many runs are active in this server
    status: Status = Status.QUEUED
    node: str | None = None
    token: str | None = None
    anchor_text: str | None = None  # the anchor's file when it was handed off (for lenses)
    turns: int = -1  # agent turns so far (-1: the record's)
    cost_usd: float = -1.0  # spend so far (-1: the record's)
    _message: str = ""  # the latest progress line

    def __post_init__(self) -> None:
        if self.turns < 0:
            self.turns = self.record.turns
        if self.cost_usd < 0:
            self.cost_usd = self.record.usage.cost_usd

    @property
    def run_id(self) -> str:
        return self.record.id

    async def begin(self) -> None:
        self.notify_status()
        task = " ".join(self.record.task.split())
        if not self.ls.support.progress:
            self.ls.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Info, message=f"minion started run {self.run_id}: {task[:200]}"))
            return
        token = f"minion-{self.run_id}-{uuid.uuid4().hex}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception as e:  # the client refused: the run goes on without a progress bar
            log.warning("run %s: no progress token: %s", self.run_id, e)
            return
        self.token = token
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=f"minion: {task[:60]}", message=self._message or self.status.value, cancellable=True))
        # A client-side cancel completes the token's future as cancelled.
        self.ls.work_done_progress.tokens[token].add_done_callback(self._cancelled_by_client)
        if not self.status.active:  # the run ended while the client created the token
            self._end_progress()

    def _cancelled_by_client(self, future: Future[Any]) -> None:
        if future.cancelled():
            self.on_cancel(self.run_id)

    def event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("run.start", "run.resume"):
            self.status = Status.RUNNING
            self.notify_status()
        elif kind == "node.start":
            self.node = event["name"]
            self.notify_status()
        elif kind == "agent.turn":
            self.turns = max(self.turns, int(event.get("turn") or 0))
            self.cost_usd += float((event.get("usage") or {}).get("cost_usd") or 0.0)
            self.notify_status()
        message = describe(event)
        if message:
            self._report(message)

    def _report(self, message: str) -> None:
        self._message = message
        if self.token:
            self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message[:200]))

    def end(self, record: RunRecord) -> None:
        self.record, self.status, self.node = record, record.status, None
        self.turns, self.cost_usd = record.turns, record.usage.cost_usd
        if self.token:
            self._end_progress()
        self.notify_status()

    def _end_progress(self) -> None:
        assert self.token is not None
        summary = self.record.summary
        message = f"{self.status.value}: {summary}" if summary else self.status.value
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message[:200]))
        self.ls.work_done_progress.tokens.pop(self.token, None)
        self.token = None

    def notify_status(self) -> None:
        status = RunStatus.of(self.record, self.status, self.node, self.active_runs(), turns=self.turns,
                              cost_usd=self.cost_usd)
        self.ls.protocol.notify(RUN_STATUS, status.dump())
