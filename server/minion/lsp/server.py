"""The language server: its state, lifecycle, configuration, documents and diagnostics.

Features live next door, one module per concern (actions, commands, lenses); this module
owns what they share. The event loop never waits on a subprocess or a slow file: git
and SQLite work runs in threads, runs execute in worker processes (runs/executor.py).

Runs outlive the server. On start it rebuilds its view from the run store: active runs
are watched (or marked lost when their worker is gone) and recent results come back as
diagnostics when their files are opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from .. import __version__
from ..config import Settings, load_settings
from ..errors import ConfigError, MinionError
from ..trust import trust_repo
from ..engine.create import RunRequest, create_run, prepare_resume
from ..runs.model import RunRecord, Status
from ..runs.store import RunStore
from ..runs.warm import spawn_warm
from ..snapshot import delete_branch as delete_run_branch, find_repo_root
from ..state import state_dir
from .capabilities import ClientSupport
from .delegation import unsaved_buffers
from .diagnostics import Finding, Target, findings
from .documents import file_path, read_text
from .edits import EditPlan, plan_edit
from .progress import RunProgress
from .protocol import MinionProtocol
from ..runs.publish import published_url
from .report import report_path, write_report
from .results import RunResult, load_result
from ..runs.executor import LocalExecutor

TRUST_AND_RUN = "Trust and run"

log = logging.getLogger("minion.lsp")

RECENT_RUNS = 20  # finished runs shown again after a restart
REPUBLISH_DELAY_S = 0.3  # diagnostics follow the user's typing after this pause
CONFIG_FILES = {"config.toml", "pyproject.toml"}
WARM_AFTER_SAVE_S = 30  # saves come in bursts; the map's cache needs one refresh


class MinionServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "minion", __version__, protocol_cls=MinionProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.support = ClientSupport()
        self.store = RunStore()
        self.executor = LocalExecutor(self.store, limit=self._run_limit, on_event=self._on_event, on_end=self._on_end)
        self.live: dict[str, RunProgress] = {}  # active runs, oldest first
        self.results: dict[str, RunResult] = {}  # ended runs shown in the editor
        self.dismissed = DismissedRuns(state_dir() / "lsp" / "dismissed.json")
        self.init_settings: dict[str, Any] = {}  # initializationOptions.settings
        self.client_settings: dict[str, Any] = {}  # workspace/configuration, section "minion"
        self._settings: dict[Path | None, Settings] = {}
        self._repo_roots: dict[Path, Path | None] = {}
        self._published: set[str] = set()  # uris that have minion diagnostics
        self._republish: dict[Path, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self._map_warmed: dict[Path, float] = {}  # repo -> when its map was last warmed

    # --- small shared services ------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a coroutine in the background, keeping it alive and its errors logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.error("background task failed", exc_info=task.exception())

    def message(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=text))

    @property
    def editor_settings(self) -> dict[str, Any]:
        return {**self.init_settings, **self.client_settings}

    def settings_for(self, repo: Path | None) -> Settings:
        """The merged settings for a repo (cached until the configuration changes)."""
        if repo not in self._settings:
            try:
                self._settings[repo] = load_settings(repo, editor=self.editor_settings)
            except ConfigError as e:
                log.warning("%s", e)
                self._settings[repo] = Settings()
        return self._settings[repo]

    def _run_limit(self) -> int:
        return self.settings_for(None).max_concurrent_runs

    def repo_root_of(self, path: Path) -> Path | None:
        """The work tree holding the file ``path``."""
        return self._repo_of_folder(path.parent)

    def _repo_of_folder(self, folder: Path) -> Path | None:
        """The work tree holding ``folder``, found by looking for `.git` (no subprocess: this
        runs on the code-action path)."""
        if folder not in self._repo_roots:
            self._repo_roots[folder] = next((p for p in (folder, *folder.parents) if (p / ".git").exists()), None)
        return self._repo_roots[folder]

    def warm(self, repo: Path | None, *, pool: bool = True) -> None:
        """Get ``repo`` ready for its next run in the background (`minion warm`, a process of
        its own at low priority: no request waits for it). After a save only the repo map is
        refreshed, at most once every WARM_AFTER_SAVE_S."""
        if repo is None or not self.settings_for(repo).warm:
            return
        now = time.monotonic()
        if not pool and now - self._map_warmed.get(repo, -math.inf) < WARM_AFTER_SAVE_S:
            return
        self._map_warmed[repo] = now
        try:
            spawn_warm(repo, pool=pool)
        except OSError as e:  # the next run starts cold, that is all
            log.warning("could not start minion warm for %s: %s", repo, e)

    def open_document(self, path: Path):
        """The open document for a file, if the client has it open."""
        for doc in self.workspace.text_documents.values():
            if file_path(doc.uri) == path:
                return doc
        return None

    def refresh_lenses(self) -> None:
        if self.support.lens_refresh:
            self.spawn(self._refresh_lenses())

    async def _refresh_lenses(self) -> None:
        try:
            await self.workspace_code_lens_refresh_async(None)
        except Exception as e:  # the client may refuse; lenses then refresh on their own
            log.debug("codeLens refresh refused: %s", e)

    # --- lifecycle and configuration ---------------------------------------------------------

    def initialize(self, params: types.InitializeParams) -> None:
        self.support = ClientSupport.of(params.capabilities)
        options = params.initialization_options or {}
        settings = options.get("settings") if isinstance(options, dict) else None
        self.init_settings = settings if isinstance(settings, dict) else {}
        if not self._check_settings():  # reported; the defaults and the repo's config apply
            self.init_settings = {}

    async def initialized(self) -> None:
        await self.fetch_configuration()
        records = {r.id: r for r in await asyncio.to_thread(self.store.list, limit=200)}
        await self.executor.recover(list(records.values()))
        for run_id in self.executor.watched:  # runs of another process: their status, no progress bar
            self.live[run_id] = self._progress_for(records[run_id], Status.RUNNING)
        await self._resume_interrupted(records.values())
        await self._show_recent_results()
        folders = [file_path(f.uri) for f in self.workspace.folders.values()]
        if not folders and self.workspace.root_path:
            folders = [Path(self.workspace.root_path)]
        for repo in {self._repo_of_folder(folder) for folder in folders if folder}:
            self.warm(repo)

    async def _resume_interrupted(self, before_recovery) -> None:
        """With `resume = true`, runs whose worker died while no server watched continue."""
        for record in before_recovery:
            if record.status is not Status.RUNNING or record.id in self.executor.watched:
                continue
            if not self.settings_for(Path(record.repo)).resume:
                continue
            try:
                await self.resume(record.id)
            except MinionError as e:  # its worktree is gone: it stays lost, with the reason
                log.warning("run %s cannot resume: %s", record.id, e)

    async def fetch_configuration(self) -> None:
        if not self.support.configuration:
            return
        try:
            answer = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="minion")]))
        except Exception as e:
            log.warning("workspace/configuration failed: %s", e)
            return
        self.update_client_settings(answer[0] if answer and isinstance(answer[0], dict) else {})

    def update_client_settings(self, settings: dict[str, Any]) -> None:
        previous = self.client_settings
        self.client_settings = settings
        if not self._check_settings():
            self.client_settings = previous

    def _check_settings(self) -> bool:
        """Validate the editor's settings now, so a bad key is reported once, clearly."""
        self._settings.clear()
        try:
            load_settings(None, editor=self.editor_settings)
        except ConfigError as e:
            self.message(f"minion: {e}", types.MessageType.Warning)
            return False
        return True

    def config_file_saved(self, path: Path) -> None:
        if path.name in CONFIG_FILES:
            self._settings.clear()

    # --- starting and following runs -----------------------------------------------------------

    async def start_run(self, request: RunRequest, anchor_text: str | None = None) -> tuple[RunRecord, Status]:
        """Snapshot and store the run (in a thread), queue it, return at once."""
        record = await asyncio.to_thread(self._create_run, request)
        return record, self._submit(record, anchor_text)

    async def resume(self, run_id: str) -> tuple[RunRecord, Status]:
        """Queue an interrupted run again: it continues at its first unfinished node."""
        if run_id in self.executor.active_ids():
            raise MinionError(f"run {run_id} is still active")
        record = await asyncio.to_thread(prepare_resume, run_id, self.store)  # queued, owned by this process
        result = self.results.pop(run_id, None)
        if result:  # its old result goes; the new one comes when it ends
            await self.publish_paths(result, only_open=False)
        return record, self._submit(record, None)

    def _submit(self, record: RunRecord, anchor_text: str | None) -> Status:
        status = self.executor.submit(record.id)
        progress = self._progress_for(record, status)
        progress.anchor_text = anchor_text
        self.live[record.id] = progress
        self.spawn(progress.begin())
        self.refresh_lenses()
        return status

    def _create_run(self, request: RunRequest) -> RunRecord:
        repo = find_repo_root(Path(request.repo))
        request = dataclasses.replace(request, buffers=unsaved_buffers(repo, request.buffers))
        record = create_run(request, self.store)
        # Until a worker takes it, the server owns the queued run: a restarted server tells
        # a run whose owner died from one that another live server still holds.
        self.store.update(record.id, worker_pid=os.getpid())
        return record

    def _progress_for(self, record: RunRecord, status: Status) -> RunProgress:
        return RunProgress(self, record, on_cancel=lambda run_id: self.spawn(self.cancel(run_id)), status=status)

    def _on_event(self, run_id: str, event: dict[str, Any]) -> None:
        progress = self.live.get(run_id)
        if progress:
            progress.event(event)
        if event["type"] in ("run.start", "node.start"):
            self.refresh_lenses()

    async def _on_end(self, run_id: str) -> None:
        record = await asyncio.to_thread(self.store.get, run_id)
        progress = self.live.pop(run_id, None)
        if progress:
            progress.end(record)
        result = await self.show_result(record, just_ended=True)
        self.spawn(self.announce(record, result))
        self.warm(Path(record.repo))  # the pool lent it a worktree

    async def cancel(self, run_id: str | None = None) -> dict[str, Any]:
        """Cancel a run (default: the newest active one); says "cancelling" while a worker
        winds down, or the status of a run that had ended already."""
        if run_id is None:
            if not self.live:
                raise MinionError("no minion run is active")
            run_id = list(self.live)[-1]
        status = await self.executor.cancel(run_id)
        if status is None:
            status = (await asyncio.to_thread(self.store.get, run_id)).status
        return {"runId": run_id, "status": "cancelling" if status is Status.RUNNING else status.value}

    # --- results ---------------------------------------------------------------------------------

    async def show_result(self, record: RunRecord, *, just_ended: bool) -> RunResult | None:
        try:
            result = await asyncio.to_thread(self._load_result, record, just_ended)
        except MinionError as e:  # its repository moved or was deleted since
            log.warning("run %s: its result cannot be shown: %s", record.id, e)
            return None
        if record.id not in self.dismissed:
            self.results[record.id] = result
            await self.publish_paths(result, only_open=not just_ended)
        self.refresh_lenses()
        return result

    def _load_result(self, record: RunRecord, just_ended: bool) -> RunResult:
        result = load_result(record, self.store)
        result.link = published_url(record)
        result.report = report_path(record.id)
        if just_ended or not result.report.exists():
            write_report(record, self.store.nodes(record.id), result.link)
        result.link = result.link or result.report.as_uri()
        return result

    async def _show_recent_results(self) -> None:
        records = await asyncio.to_thread(self.store.list, limit=RECENT_RUNS * 5)
        shown = [r for r in records if not r.status.active and r.id not in self.dismissed and self._in_workspace(r)]
        for record in shown[:RECENT_RUNS]:
            await self.show_result(record, just_ended=False)

    def _in_workspace(self, record: RunRecord) -> bool:
        folders = [path for f in self.workspace.folders.values() if (path := file_path(f.uri))]
        if not folders and self.workspace.root_path:
            folders = [Path(self.workspace.root_path)]
        repo = Path(record.repo)
        return not folders or any(repo.is_relative_to(f) or f.is_relative_to(repo) for f in folders)

    def result_of(self, run_id: str) -> RunResult:
        if run_id not in self.results:
            raise MinionError(f"run {run_id} has no result shown in the editor (see minion.runs)")
        return self.results[run_id]

    async def ask_to_trust(self, repo: Path, why: str) -> bool:
        """Ask once whether to trust the repo's blueprint files (named, with their hashes, in
        ``why``); trust them if the user says so. False when the client cannot ask."""
        try:
            choice = await self.window_show_message_request_async(types.ShowMessageRequestParams(
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

    async def announce(self, record: RunRecord, result: RunResult | None) -> None:
        """Tell the user the run ended, and offer what to do next."""
        if record.status is Status.CANCELLED:  # the user's own doing: a note is enough
            self.message(f"minion run {record.id} cancelled; its work so far is on {record.branch}")
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
        kind = types.MessageType.Info if record.status is Status.OK and not record.sensitive else types.MessageType.Warning
        try:
            choice = await self.window_show_message_request_async(types.ShowMessageRequestParams(
                type=kind, message=text, actions=[types.MessageActionItem(title=a) for a in actions]))
        except Exception as e:  # a client without message requests still has the diagnostics
            log.info("run %s: the end-of-run message was not shown: %s", record.id, e)
            return
        if choice and choice.title == "Open":
            await self.open_report(record.id)
        elif choice and choice.title == "Apply all":
            await self.apply(record.id)
        elif choice and choice.title == "Resume":
            await self.resume(record.id)

    async def open_report(self, run_id: str) -> dict[str, Any]:
        try:
            result = self.result_of(run_id)
        except MinionError:
            record = await asyncio.to_thread(self.store.get, run_id)
            result = await asyncio.to_thread(self._load_result, record, False)
        uri = result.link or ""
        external = uri.startswith("http")
        if self.support.show_document:
            await self.window_show_document_async(types.ShowDocumentParams(uri=uri, external=external, take_focus=True))
        else:
            self.message(f"minion run {result.id}: {uri}")
        return {"uri": uri}

    async def apply(self, run_id: str, only: int | None = None) -> dict[str, Any]:
        plan = await self.edit_plan(self.result_of(run_id), only)
        edit = plan.workspace_edit()
        if edit is None:
            return {"applied": 0, "skipped": plan.skipped}
        if not self.support.apply_edit:
            raise MinionError("this editor cannot apply edits from a server (workspace/applyEdit)")
        answer = await self.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=f"minion run {run_id}"))
        if not answer.applied:
            return {"applied": 0, "skipped": plan.applied + plan.skipped, "failureReason": answer.failure_reason}
        return {"applied": plan.applied, "skipped": plan.skipped}

    async def edit_plan(self, result: RunResult, only: int | None = None) -> EditPlan:
        paths = list(result.hunk_indexes)
        uris = {path: from_fs_path(str(result.repo / path)) for path in paths}
        targets = {path: await self.target(result.repo, path) for path in paths}
        return plan_edit(result, targets, uris, self.support, only)

    async def discard(self, run_id: str, delete_branch: bool = False) -> dict[str, Any]:
        record = await asyncio.to_thread(self.store.get, run_id)
        if record.status.active:
            await self.executor.cancel(record.id)
        await asyncio.to_thread(self.dismissed.add, record.id)
        result = self.results.pop(record.id, None)
        if result:
            await self.publish_paths(result, only_open=False)
        deleted = False
        if delete_branch and record.branch and record.branch.startswith("minion/") and not record.status.active:
            await asyncio.to_thread(delete_run_branch, Path(record.repo), record.branch)
            deleted = True
        self.refresh_lenses()
        return {"runId": record.id, "discarded": True, "branchDeleted": deleted}

    # --- diagnostics -----------------------------------------------------------------------------

    async def target(self, repo: Path, path: str) -> Target | None:
        """The current text of a repo file: the open buffer, else the disk (None: no file)."""
        full = repo / path
        doc = self.open_document(full)
        if doc is not None:
            return Target(path, doc.uri, doc.source, doc.position_codec, doc.version)
        text = await asyncio.to_thread(read_text, full)
        if text is None:
            return None
        return Target(path, from_fs_path(str(full)), text, self.workspace.position_codec, None)

    def findings_in(self, doc, path: Path) -> list[Finding]:
        """Every shown result's findings in an open document (no I/O: code actions use it)."""
        return self._findings(path, doc.uri, doc.source, doc.position_codec, doc.version)

    def _findings(self, path: Path, uri: str, text: str, codec, version: int | None) -> list[Finding]:
        found = []
        for result in self.results.values():
            rel = _relative(path, result.repo)
            if rel is not None and rel in result.paths:
                target = Target(rel, uri, text, codec, version)
                found += findings(result, target, link_support=self.support.code_description)
        return found

    async def publish_paths(self, result: RunResult, *, only_open: bool) -> None:
        for path in sorted(result.paths):
            full = result.repo / path
            if not only_open or self.open_document(full):
                await self.publish(full)

    async def publish(self, path: Path) -> None:
        """Publish every shown result's findings for one file, on its current text."""
        doc = self.open_document(path)
        if doc is not None:
            uri, version, found = doc.uri, doc.version, self.findings_in(doc, path)
        else:
            uri, version = from_fs_path(str(path)), None
            text = await asyncio.to_thread(read_text, path)
            found = [] if text is None else self._findings(path, uri, text, self.workspace.position_codec, None)
        if not found and uri not in self._published:
            return
        (self._published.add if found else self._published.discard)(uri)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=[f.diagnostic for f in found], version=version))

    def republish_soon(self, path: Path) -> None:
        """Follow the user's typing: republish once they pause."""
        if path in self._republish:
            self._republish[path].cancel()
        loop = asyncio.get_running_loop()
        self._republish[path] = loop.call_later(REPUBLISH_DELAY_S, lambda: self.spawn(self._republish_now(path)))

    async def _republish_now(self, path: Path) -> None:
        self._republish.pop(path, None)
        await self.publish(path)


def _relative(path: Path, repo: Path) -> str | None:
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else None


class DismissedRuns:
    """Runs the user discarded, kept across restarts (a small JSON list)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.ids = set(json.loads(path.read_text()))
        except (OSError, ValueError):
            self.ids = set()

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.ids

    def add(self, run_id: str) -> None:
        self.ids.add(run_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(sorted(self.ids)))


# --- wiring --------------------------------------------------------------------------------------


def create_server() -> MinionServer:
    from . import actions, commands, lenses

    ls = MinionServer()

    @ls.feature(types.INITIALIZE)
    def on_initialize(ls: MinionServer, params: types.InitializeParams) -> None:
        ls.initialize(params)

    @ls.feature(types.INITIALIZED)
    async def on_initialized(ls: MinionServer, params: types.InitializedParams) -> None:
        ClientLogHandler.install(ls, asyncio.get_running_loop())
        await ls.initialized()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: MinionServer, params: types.DidChangeConfigurationParams) -> None:
        pushed = params.settings.get("minion") if isinstance(params.settings, dict) else None
        if isinstance(pushed, dict):
            ls.update_client_settings(pushed)
        else:
            await ls.fetch_configuration()

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def on_open(ls: MinionServer, params: types.DidOpenTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            await ls.publish(path)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: MinionServer, params: types.DidChangeTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            ls.republish_soon(path)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(ls: MinionServer, params: types.DidCloseTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            ls.republish_soon(path)  # back to the text on disk

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(ls: MinionServer, params: types.DidSaveTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            ls.config_file_saved(path)
            ls.warm(ls.repo_root_of(path), pool=False)

    actions.register(ls)
    commands.register(ls)
    lenses.register(ls)
    return ls


class ClientLogHandler(logging.Handler):
    """minion's log records, mirrored to the client's log (window/logMessage)."""

    LEVELS = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning}

    def __init__(self, ls: MinionServer, loop: asyncio.AbstractEventLoop):
        super().__init__(logging.INFO)
        self.ls, self.loop = ls, loop

    @classmethod
    def install(cls, ls: MinionServer, loop: asyncio.AbstractEventLoop) -> None:
        logging.getLogger("minion").addHandler(cls(ls, loop))

    def emit(self, record: logging.LogRecord) -> None:
        kind = self.LEVELS.get(record.levelno, types.MessageType.Info)
        params = types.LogMessageParams(type=kind, message=self.format(record))
        # Records may come from threads; the transport belongs to the loop. Once the loop has
        # closed, stderr has the record already.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.ls.window_log_message, params)


def serve() -> None:
    """`minion serve`: LSP on stdio. Only the protocol may write to the real stdout."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints and child output go to stderr
    sys.stdout = sys.stderr
    logging.basicConfig(level=os.environ.get("MINION_LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pygls").setLevel(logging.WARNING)
    # A run starting takes its snapshot in a thread; the editor's requests must not wait the
    # default 5 ms for the GIL each time that thread holds it.
    sys.setswitchinterval(0.001)
    create_server().start_io(sys.stdin.buffer, protocol_out)
