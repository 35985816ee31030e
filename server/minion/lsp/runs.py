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
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lsprotocol import types

from ..engine.create import RunRequest, create_run, prepare_resume, request_settings, revise_request
from ..errors import MinionError, UntrustedBlueprint
from ..fleet.executor import RunExecutor
from ..git import git
from ..runs.events import log_path
from ..runs.model import RunRecord, Status
from ..snapshot import delete_branch as delete_run_branch
from ..snapshot import find_repo_root
from ..trust import trust_repo
from ..worktrees import remove_worktree
from .delegation import Delegation, task_and_anchor, unsaved_buffers
from .documents import file_path
from .feature import Feature, command
from .guard import AnchoredRun, duplicate_of, relocate
from .progress import RunProgress
from .report import report_path
from .results import RunResult, read_blobs
from .review import Review
from .server import MinionServer
from .wire import (
    CancelResult,
    Command,
    DiscardQuery,
    DiscardResult,
    DuplicateRun,
    Revision,
    RunRef,
    RunRow,
    RunsQuery,
    StartedRun,
)
from .wording import editor_wording

log = logging.getLogger("minion.lsp")

TRUST_AND_RUN = "Trust and run"
LISTED_RUNS = 50  # minion.runs
FOLLOW_POLL_S = 1.0  # how often the store is read for runs started elsewhere
FOLLOWED_RUNS = 20  # per repository, the newest runs each poll looks at


class Runs(Feature):
    def __init__(self, ls: MinionServer, review: Review) -> None:
        super().__init__(ls)
        self.review = review
        # Local, or the fleet for runs whose settings say executor = "temporal" (fleet/executor.py).
        self.executor = RunExecutor(ls.store, limit=self._run_limit, on_event=self._on_event, on_end=self._on_end)
        self.live: dict[str, RunProgress] = {}  # active runs, oldest first
        self._seen: dict[str, Status] = {}  # the workspace's runs as the last poll of the store saw them
        self._log_offsets: dict[str, int] = {}  # watched runs: how far their event log was read
        self._creating = 0  # runs being created or resumed here (not yet submitted)
        self._discard_at_end: dict[str, bool] = {}  # discarded while active -> delete its branch too

    def _run_limit(self) -> int:
        return self.ls.settings_for(None).max_concurrent_runs

    async def initialized(self) -> None:
        records = {r.id: r for r in await asyncio.to_thread(self.ls.store.recent, limit=200)}
        await self.executor.recover(list(records.values()))
        # Runs of another process, and fleet runs an earlier client left: their status, no progress bar.
        for run_id in [*self.executor.watched, *self.executor.followed_on_fleet()]:
            self.live[run_id] = self._progress_for(records[run_id], Status.RUNNING)
        self._seen.update({run_id: record.status for run_id, record in records.items()})
        self._seen.update({r.id: r.status for r in await asyncio.to_thread(self._followed)})
        await self._resume_interrupted(records.values())
        self.ls.spawn(self._follow_store())

    # --- runs started elsewhere ----------------------------------------------------------------

    async def _follow_store(self) -> None:
        """Every FOLLOW_POLL_S: the workspace's runs in the store that something else started
        (`minion run`, another editor) are followed like this server's own: their events
        become runStatus and progress, their end a result. Store and log reads run in threads."""
        while True:
            await asyncio.sleep(FOLLOW_POLL_S)
            try:
                await self.follow_once()
            except Exception:  # the next poll tries again
                log.exception("following the run store failed")

    async def follow_once(self) -> None:
        creating = self._creating
        records = await asyncio.to_thread(self._followed)
        mine = set(self.executor.active_ids())
        for record in records:
            before = self._seen.get(record.id)
            if record.id in mine or (creating and before is None):
                continue  # this server's (or maybe one it is creating right now: the next poll says)
            self._seen[record.id] = record.status
            if record.status.active and record.id not in self.live:
                await self._follow_external(record)
            elif not record.status.active and before is not None and before.active and record.id not in self.live:
                continue  # its end was followed already
            elif not record.status.active and before is None:  # started and ended between two polls
                await self.review.forget(record.id)
                result = await self.review.show_result(record, just_ended=True)
                self.ls.spawn(self.announce(record, result))
        for run_id in list(self.executor.watched):
            await self._tail(run_id)

    def _followed(self) -> list[RunRecord]:
        """The newest runs of each of the workspace's repositories. In a thread."""
        return [r for repo in self.ls.workspace_repos() for r in self.ls.store.recent(limit=FOLLOWED_RUNS, repo=repo)]

    async def _follow_external(self, record: RunRecord) -> None:
        """A run another process executes: watched until it ends (the executor), its event
        log read from the start (progress.py)."""
        await self.review.forget(record.id)  # resumed elsewhere: its old result goes
        self.executor.watch(record.id)
        progress = self._progress_for(record, record.status)
        progress.anchor_text = await asyncio.to_thread(_anchor_file, record)  # for its lens and the guard
        self.live[record.id] = progress
        self._log_offsets[record.id] = 0
        await self._tail(record.id)
        self.ls.spawn(progress.begin())
        self.ls.refresh_lenses()

    async def _tail(self, run_id: str) -> None:
        """The events a watched run's log gained since the last read."""
        offset = self._log_offsets.get(run_id, 0)
        events, self._log_offsets[run_id] = await asyncio.to_thread(read_new_events, log_path(run_id), offset)
        for event in events:
            try:
                self._on_event(run_id, event)
            except Exception:  # an event of another minion version: the run itself is fine
                log.exception("run %s: showing an event failed", run_id)

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
    async def delegate_command(self, *args: Any) -> StartedRun | DuplicateRun:
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
        if delegation.version is None or delegation.version != doc.version:  # the user typed since
            delegation = dataclasses.replace(delegation, range=relocate(doc, delegation.range, delegation.text))
        task, anchor = task_and_anchor(delegation, doc, rel, ls.settings_for(repo).todo_patterns)
        if not delegation.force and (duplicate := duplicate_of(anchor, self.anchored_runs(), doc.source)):
            return DuplicateRun(duplicate_of=duplicate.record.id, status=duplicate.status)
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

    def anchored_runs(self) -> list[AnchoredRun]:
        """The runs a new hand-off could duplicate: the active ones, and the ended ones whose
        result is still shown (not applied, not discarded)."""
        runs = [AnchoredRun(p.record, p.status, p.anchor_text) for p in self.live.values()]
        for result in self.review.results.values():
            anchor = result.record.anchor
            if result.id not in self.live and anchor and anchor.path:
                runs.append(AnchoredRun(result.record, result.record.status, result.base_texts.get(anchor.path)))
        return runs

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
        query = self.argument(Command.RUNS, RunsQuery, args)
        records = await asyncio.to_thread(self._listed, query.scope)
        return await asyncio.to_thread(lambda: [self.row(r) for r in records])

    def _listed(self, scope: str) -> list[RunRecord]:
        """The newest runs (LISTED_RUNS): every repository's, or the workspace's. In a thread."""
        folders = self.ls.workspace_folders()
        if scope == "all" or not folders:  # no folder: no workspace to scope to
            return self.ls.store.recent(limit=LISTED_RUNS)
        if all(self.ls.repo_of_folder(f) for f in folders):
            records = [r for repo in self.ls.workspace_repos()
                       for r in self.ls.store.recent(limit=LISTED_RUNS, repo=repo)]
        else:  # a folder that holds repositories: their runs are found by path
            records = [r for r in self.ls.store.recent(limit=LISTED_RUNS * 10) if self.ls.in_workspace(r.repo)]
        return sorted(records, key=lambda r: r.created_at, reverse=True)[:LISTED_RUNS]

    def row(self, record: RunRecord) -> RunRow:
        """A runs row, with what the server follows of an active run. Reads the disk."""
        report = report_path(record.id)
        progress = self.live.get(record.id)
        node = turns = cost = None
        if progress is not None:
            node, turns, cost = progress.node, progress.turns, progress.cost_usd
        elif record.status.active:  # not followed here (yet): the store's latest node
            nodes = self.ls.store.nodes(record.id)
            node = nodes[-1].name if nodes else None
        return RunRow.of(record, report.as_uri() if report.exists() else None, node=node, turns=turns, cost_usd=cost)

    @command(Command.SHOW_RUN)
    async def show_run_command(self, *args: Any) -> RunRow:
        ref = self.argument(Command.SHOW_RUN, RunRef, args, ("runId",))
        record = await asyncio.to_thread(self.ls.store.get, await self.full_id(ref.run_id))
        return await asyncio.to_thread(self.row, record)

    @command(Command.REVISE)
    async def revise_command(self, *args: Any) -> StartedRun:
        revision = self.argument(Command.REVISE, Revision, args, ("runId", "feedback"))
        feedback = revision.feedback.strip()
        if not feedback:
            raise MinionError("minion.revise: say what to change (the feedback is empty)")
        run_id = await self.full_id(revision.run_id)
        request = await asyncio.to_thread(revise_request, self.ls.store, run_id, feedback)
        # The editor's settings as for any run; its `model` setting, when set, over the earlier round's.
        model = None if self.ls.editor_settings.get("model") else request.model
        request = dataclasses.replace(request, editor_settings=self.ls.editor_settings, model=model)
        record, status = await self.start_run(request)
        return StartedRun(run_id=record.id, branch=record.branch, status=status)

    @command(Command.DISCARD)
    async def discard_command(self, *args: Any) -> DiscardResult:
        query = self.argument(Command.DISCARD, DiscardQuery, args, ("runId", "deleteBranch"))
        return await self.discard(await self.full_id(query.run_id), delete_branch=query.delete_branch)

    # --- starting and following runs ---------------------------------------------------------

    async def start_run(self, request: RunRequest, anchor_text: str | None = None) -> tuple[RunRecord, Status]:
        """Snapshot and store the run (in a thread), queue it, return at once."""
        self._creating += 1
        try:
            repo = await asyncio.to_thread(find_repo_root, Path(request.repo))
            # A fleet that does not answer is said now, before the run is created.
            await self.executor.check(await asyncio.to_thread(request_settings, request, repo), repo)
            record = await asyncio.to_thread(self._create_run, request)
            return record, self._submit(record, anchor_text)
        finally:
            self._creating -= 1

    async def resume(self, run_id: str) -> tuple[RunRecord, Status]:
        """Queue an interrupted run again: it continues at its first unfinished node."""
        if run_id in self.executor.active_ids():
            raise MinionError(f"run {run_id} is still active")
        self._creating += 1
        try:
            record = await asyncio.to_thread(prepare_resume, run_id, self.ls.store)  # queued, owned by this process
            await self.review.forget(run_id)  # its old result goes; the new one comes when it ends
            return record, self._submit(record, None)
        finally:
            self._creating -= 1

    def _submit(self, record: RunRecord, anchor_text: str | None) -> Status:
        status = self.executor.submit(record.id, record)
        self._seen[record.id] = status
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
        if run_id in self._log_offsets:  # a watched run: the last of its log first
            await self._tail(run_id)
            self._log_offsets.pop(run_id, None)
        record = await asyncio.to_thread(self.ls.store.get, run_id)
        self._seen[run_id] = record.status
        if run_id in self._discard_at_end:  # discarded while it worked: nothing to show or announce
            delete_branch = self._discard_at_end.pop(run_id)
            if progress := self.live.pop(run_id, None):
                progress.end(record)
            await asyncio.to_thread(remove_run_files, record, delete_branch)
            self.ls.refresh_lenses()
            return
        # The run leaves `live` only once its result is shown: the duplicate guard sees it
        # all along. Its end is said first.
        progress = self.live.get(run_id)
        if progress:
            progress.end(record)
        try:
            result = await self.review.show_result(record, just_ended=True)
        finally:
            self.live.pop(run_id, None)
            self.ls.refresh_lenses()
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
        """Stop showing the run (also after a restart), remove its worktree (it cannot resume
        after that) and delete its branch when asked to, with every round on that branch. A
        run that works is cancelled first; its worktree and branch go once it has wound down."""
        record = await asyncio.to_thread(self.ls.store.get, run_id)
        rounds = await asyncio.to_thread(self.ls.store.rounds, record) if delete_branch else [record]
        removed = winding_down = False
        for round_ in rounds:
            await self.review.dismiss(round_.id)
            if round_.status.active and await self.executor.cancel(round_.id) is not None:
                self._discard_at_end[round_.id] = delete_branch
                winding_down = True
            else:
                gone, _ = await asyncio.to_thread(remove_run_files, round_, False)
                removed = removed or (gone and round_.id == record.id)
        self.ls.refresh_lenses()
        deleted = False
        if delete_branch and not winding_down:
            deleted = (await asyncio.to_thread(remove_run_files, record, True))[1]
        return DiscardResult(run_id=record.id, discarded=True, branch_deleted=deleted, worktree_removed=removed)

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
        summary = editor_wording(record.summary or record.task[:80]).rstrip(".")
        text = (f"minion run {record.id} {record.status.value}: {summary}. "
                f"Branch {record.branch}; {len(record.files)} file(s) changed; {checks}; ${cost:.2f}.")
        if record.sensitive:  # files that run code on this machine once merged: before anything else
            text += f" Review first: {_some([c.path for c in record.sensitive], 5)} (see the report)."
        if record.refused:
            text += f" {len(record.refused)} file(s) left out of the branch (see the report)."
        if result is not None and result.outside:
            text += f" It also changed code outside the selection: {_some(result.outside, 3)}."
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


def _some(items: list[str], limit: int) -> str:
    """The first ``limit`` items, then "…" when there are more."""
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def read_new_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The whole lines a JSONL log gained after byte ``offset``, and the offset after them
    (a line still being written is left for the next read). In a thread."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # torn by a writer killed mid-line
            continue
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            events.append(event)
    return events, offset + end


def remove_run_files(record: RunRecord, delete_branch: bool) -> tuple[bool, bool]:
    """A discarded run's worktree (and snapshot ref), and its branch when asked: whether
    each went. Never a branch that is not minion's own. In a thread."""
    repo = Path(record.repo)
    removed = deleted = False
    if not repo.is_dir():
        return removed, deleted
    if record.worktree and Path(record.worktree).exists():
        common = Path(record.git_common_dir) if record.git_common_dir else None
        remove_worktree(Path(record.worktree), repo, common_dir=common)
        removed = True
    git("update-ref", "-d", record.snapshot_ref, cwd=repo, check=False)
    if delete_branch and record.branch and record.branch.startswith("minion/"):
        if git("rev-parse", "--verify", "--quiet", f"refs/heads/{record.branch}", cwd=repo, check=False):
            delete_run_branch(repo, record.branch)
            deleted = True
    return removed, deleted


def _anchor_file(record: RunRecord) -> str | None:
    """The anchor's file as the run took it (in its snapshot), or None. In a thread."""
    if record.anchor is None or not record.anchor.path or not record.snapshot:
        return None
    try:
        return read_blobs(Path(record.repo), record.snapshot, {record.anchor.path}).get(record.anchor.path)
    except MinionError:  # the repository moved: the lens and guard take the lines as they are
        return None
