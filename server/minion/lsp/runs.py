"""Runs: starting one from a delegation, following it while it works, resuming, cancelling
and discarding it, listing them, and announcing each one's end.

``minion.delegate`` returns when the run is snapshotted and queued, not when it ends: it
executes in a worker process of the executor (runs/executor.py), whose events become the
run's progress (progress.py) and whose end becomes its result (review.py) and a message
offering what to do next. At start-up the runs of an earlier server are followed again,
or marked lost when their worker is gone (and, with `resume = true`, continued).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lsprotocol import types

from ..engine.create import RunRequest, create_run, prepare_resume
from ..errors import MinionError, UntrustedBlueprint
from ..runs.executor import LocalExecutor
from ..runs.model import RunRecord, Status
from ..snapshot import delete_branch as delete_run_branch
from ..snapshot import find_repo_root
from ..trust import trust_repo
from .delegation import Delegation, task_and_anchor, unsaved_buffers
from .documents import file_path
from .feature import Feature, command
from .progress import RunProgress
from .report import report_path
from .results import RunResult
from .review import Review
from .server import MinionServer
from .wire import CancelResult, Command, DiscardResult, RunRow, StartedRun

log = logging.getLogger("minion.lsp")

TRUST_AND_RUN = "Trust and run"
LISTED_RUNS = 50  # minion.runs


class Runs(Feature):
    def __init__(self, ls: MinionServer, review: Review) -> None:
        super().__init__(ls)
        self.review = review
        self.executor = LocalExecutor(ls.store, limit=self._run_limit, on_event=self._on_event, on_end=self._on_end)
        self.live: dict[str, RunProgress] = {}  # active runs, oldest first

    def _run_limit(self) -> int:
        return self.ls.settings_for(None).max_concurrent_runs

    async def initialized(self) -> None:
        records = {r.id: r for r in await asyncio.to_thread(self.ls.store.list, limit=200)}
        await self.executor.recover(list(records.values()))
        for run_id in self.executor.watched:  # runs of another process: their status, no progress bar
            self.live[run_id] = self._progress_for(records[run_id], Status.RUNNING)
        await self._resume_interrupted(records.values())

    async def _resume_interrupted(self, before_recovery: Iterable[RunRecord]) -> None:
        """With `resume = true`, runs whose worker died while no server watched continue."""
        for record in before_recovery:
            if record.status is not Status.RUNNING or record.id in self.executor.watched:
                continue
            if not self.ls.settings_for(Path(record.repo)).resume:
                continue
            try:
                await self.resume(record.id)
            except MinionError as e:  # its worktree is gone: it stays lost, with the reason
                log.warning("run %s cannot resume: %s", record.id, e)

    # --- commands ----------------------------------------------------------------------------

    @command(Command.DELEGATE)
    async def delegate_command(self, *args: Any) -> StartedRun:
        ls = self.ls
        delegation = Delegation.parse(args[0] if args else None)
        path = file_path(delegation.uri)
        if path is None:
            raise MinionError(f"minion.delegate: {delegation.uri} is not a file; save it in a repository first")
        repo = ls.repo_root_of(path)
        if repo is None:
            raise MinionError(f"{path} is not in a git repository: minion works on git repositories")
        doc = ls.workspace.get_text_document(delegation.uri)
        rel = path.relative_to(repo).as_posix()
        task, anchor = task_and_anchor(delegation, doc, rel, ls.settings_for(repo).todo_patterns)
        # Every open buffer as it is right now: the snapshot must hold what the user sees.
        docs = ls.workspace.text_documents.values()
        buffers = {str(p): d.source for d in docs if (p := file_path(d.uri))}
        request = RunRequest(task=task, repo=repo, anchor=anchor, buffers=buffers, editor_settings=ls.editor_settings)
        try:
            record, status = await self.start_run(request, anchor_text=doc.source)
        except UntrustedBlueprint as untrusted:
            if not await self.ask_to_trust(repo, str(untrusted)):
                raise
            record, status = await self.start_run(request, anchor_text=doc.source)
        return StartedRun(run_id=record.id, branch=record.branch, status=status)

    @command(Command.RESUME)
    async def resume_command(self, *args: Any) -> StartedRun:
        if not args:
            raise MinionError("minion.resume takes the run id")
        record, status = await self.resume(await self.full_id(args[0]))
        return StartedRun(run_id=record.id, branch=record.branch, status=status)

    @command(Command.CANCEL)
    async def cancel_command(self, *args: Any) -> CancelResult:
        run_id = await self.full_id(args[0]) if args and args[0] else None
        return await self.cancel(run_id)

    @command(Command.RUNS)
    async def runs_command(self, *args: Any) -> list[RunRow]:
        records = await asyncio.to_thread(self.ls.store.list, limit=LISTED_RUNS)

        def row(record: RunRecord) -> RunRow:
            report = report_path(record.id)
            return RunRow.of(record, report.as_uri() if report.exists() else None)

        return await asyncio.to_thread(lambda: [row(r) for r in records])

    @command(Command.DISCARD)
    async def discard_command(self, *args: Any) -> DiscardResult:
        if not args:
            raise MinionError("minion.discard takes the run id (and true to delete its branch)")
        return await self.discard(await self.full_id(args[0]), delete_branch=len(args) > 1 and args[1] is True)

    # --- starting and following runs ---------------------------------------------------------

    async def start_run(self, request: RunRequest, anchor_text: str | None = None) -> tuple[RunRecord, Status]:
        """Snapshot and store the run (in a thread), queue it, return at once."""
        record = await asyncio.to_thread(self._create_run, request)
        return record, self._submit(record, anchor_text)

    async def resume(self, run_id: str) -> tuple[RunRecord, Status]:
        """Queue an interrupted run again: it continues at its first unfinished node."""
        if run_id in self.executor.active_ids():
            raise MinionError(f"run {run_id} is still active")
        record = await asyncio.to_thread(prepare_resume, run_id, self.ls.store)  # queued, owned by this process
        await self.review.forget(run_id)  # its old result goes; the new one comes when it ends
        return record, self._submit(record, None)

    def _submit(self, record: RunRecord, anchor_text: str | None) -> Status:
        status = self.executor.submit(record.id)
        progress = self._progress_for(record, status)
        progress.anchor_text = anchor_text
        self.live[record.id] = progress
        self.ls.spawn(progress.begin())
        self.ls.refresh_lenses()
        return status

    def _create_run(self, request: RunRequest) -> RunRecord:
        repo = find_repo_root(Path(request.repo))
        request = dataclasses.replace(request, buffers=unsaved_buffers(repo, dict(request.buffers)))
        record = create_run(request, self.ls.store)
        # Until a worker takes it, the server owns the queued run: a restarted server tells
        # a run whose owner died from one that another live server still holds.
        self.ls.store.update(record.id, worker_pid=os.getpid())
        return record

    def _progress_for(self, record: RunRecord, status: Status) -> RunProgress:
        return RunProgress(self.ls, record, on_cancel=lambda run_id: self.ls.spawn(self.cancel(run_id)),
                           active_runs=lambda: len(self.executor.active_ids()), status=status)

    def _on_event(self, run_id: str, event: dict[str, Any]) -> None:
        progress = self.live.get(run_id)
        if progress:
            progress.event(event)
        if event["type"] in ("run.start", "node.start"):
            self.ls.refresh_lenses()

    async def _on_end(self, run_id: str) -> None:
        record = await asyncio.to_thread(self.ls.store.get, run_id)
        progress = self.live.pop(run_id, None)
        if progress:
            progress.end(record)
        result = await self.review.show_result(record, just_ended=True)
        self.ls.spawn(self.announce(record, result))
        self.ls.warm(Path(record.repo))  # the pool lent it a worktree

    async def cancel(self, run_id: str | None = None) -> CancelResult:
        """Cancel a run (default: the newest active one); says "cancelling" while a worker
        winds down, or the status of a run that had ended already."""
        if run_id is None:
            if not self.live:
                raise MinionError("no minion run is active")
            run_id = list(self.live)[-1]
        status = await self.executor.cancel(run_id)
        if status is None:
            status = (await asyncio.to_thread(self.ls.store.get, run_id)).status
        return CancelResult(run_id=run_id, status="cancelling" if status is Status.RUNNING else status)

    async def discard(self, run_id: str, delete_branch: bool = False) -> DiscardResult:
        """Cancel the run if it works, stop showing it (also after a restart), and delete its
        branch when asked to."""
        record = await asyncio.to_thread(self.ls.store.get, run_id)
        if record.status.active:
            await self.executor.cancel(record.id)
        await self.review.dismiss(record.id)
        deleted = False
        if delete_branch and record.branch and record.branch.startswith("minion/") and not record.status.active:
            await asyncio.to_thread(delete_run_branch, Path(record.repo), record.branch)
            deleted = True
        self.ls.refresh_lenses()
        return DiscardResult(run_id=record.id, discarded=True, branch_deleted=deleted)

    async def ask_to_trust(self, repo: Path, why: str) -> bool:
        """Ask once whether to trust the repo's blueprint files (named, with their hashes, in
        ``why``); trust them if the user says so. False when the client cannot ask."""
        try:
            choice = await self.ls.window_show_message_request_async(types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=f"{why}\nThese files run on your machine, outside the sandbox. Trust them and run?",
                actions=[types.MessageActionItem(title=TRUST_AND_RUN), types.MessageActionItem(title="Cancel")]))
        except Exception as e:  # a client without message requests: the error says how to trust
            log.info("the trust question was not shown: %s", e)
            return False
        if not choice or choice.title != TRUST_AND_RUN:
            return False
        await asyncio.to_thread(trust_repo, repo)
        return True

    # --- the end of a run ----------------------------------------------------------------------

    async def announce(self, record: RunRecord, result: RunResult | None) -> None:
        """Tell the user the run ended, and offer what to do next."""
        if record.status is Status.CANCELLED:  # the user's own doing: a note is enough
            self.ls.message(f"minion run {record.id} cancelled; its work so far is on {record.branch}")
            return
        checks = ", ".join(f"{c.name} {c.verdict}" for c in record.checks) or "no checks"
        cost = record.usage.cost_usd
        text = (f"minion run {record.id} {record.status.value}: {(record.summary or record.task[:80]).rstrip('.')}. "
                f"Branch {record.branch}; {len(record.files)} file(s) changed; {checks}; ${cost:.2f}.")
        if record.sensitive:  # files that run code on this machine once merged: before anything else
            named = ", ".join(c.path for c in record.sensitive[:5]) + (" …" if len(record.sensitive) > 5 else "")
            text += f" Review first: {named} (see the report)."
        if record.refused:
            text += f" {len(record.refused)} file(s) left out of the branch (see the report)."
        actions = []
        if result is not None:
            actions = ["Open", "Apply all"] if result.hunks else ["Open"]
        if record.status.resumable:
            actions.append("Resume")
        actions.append("Dismiss")
        fine = record.status is Status.OK and not record.sensitive
        kind = types.MessageType.Info if fine else types.MessageType.Warning
        try:
            choice = await self.ls.window_show_message_request_async(types.ShowMessageRequestParams(
                type=kind, message=text, actions=[types.MessageActionItem(title=a) for a in actions]))
        except Exception as e:  # a client without message requests still has the diagnostics
            log.info("run %s: the end-of-run message was not shown: %s", record.id, e)
            return
        if choice and choice.title == "Open":
            await self.review.open_report(record.id)
        elif choice and choice.title == "Apply all":
            await self.review.apply(record.id)
        elif choice and choice.title == "Resume":
            await self.resume(record.id)
