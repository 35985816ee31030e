"""The language server: its lifecycle and configuration, the services its features share,
and the wiring of those features.

Each feature is a class of its own module, with its own state, that registers its own
handlers (feature.py): runs.py starts, resumes, cancels and discards runs and announces
their end; review.py shows the ended runs' results (diagnostics, apply, the report);
actions.py offers the code actions and lenses.py the CodeLens. The event loop never
waits on a subprocess or a slow file: git and SQLite work runs in threads, runs execute
in worker processes (runs/executor.py).

Runs outlive the server. On start it rebuilds its view from the run store: active runs
are watched (or marked lost when their worker is gone) and recent results come back as
diagnostics when their files are opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from .. import __version__
from ..config import Settings, load_settings
from ..errors import ConfigError
from ..runs.store import RunStore
from ..runs.warm import spawn_warm
from .capabilities import ClientSupport
from .documents import file_path
from .feature import Feature, handler
from .protocol import MinionProtocol
from .wire import CAPABILITIES, ExperimentalCapabilities, MinionCapabilities

log = logging.getLogger("minion.lsp")

CONFIG_FILES = {"config.toml", "pyproject.toml"}
WARM_AFTER_SAVE_S = 30  # saves come in bursts; the map's cache needs one refresh

F = TypeVar("F", bound=Feature)


class MinionServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "minion", __version__, protocol_cls=MinionProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.support = ClientSupport()
        self.store = RunStore()
        self.features: list[Feature] = []
        self.init_settings: dict[str, Any] = {}  # initializationOptions.settings
        self.client_settings: dict[str, Any] = {}  # workspace/configuration, section "minion"
        self._settings: dict[Path | None, Settings] = {}
        self._repo_roots: dict[Path, Path | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._map_warmed: dict[Path, float] = {}  # repo -> when its map was last warmed
        self._capabilities: MinionCapabilities | None = None  # as the client last heard them

    def add_feature(self, feature: F) -> F:
        """Register a feature's handlers; its `initialized` hook runs after those added before."""
        feature.register()
        self.features.append(feature)
        return feature

    # --- small shared services ------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, keeping it alive and its errors logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
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

    def repo_root_of(self, path: Path) -> Path | None:
        """The work tree holding the file ``path``."""
        return self.repo_of_folder(path.parent)

    def repo_of_folder(self, folder: Path) -> Path | None:
        """The work tree holding ``folder``, found by looking for `.git` (no subprocess: this
        runs on the code-action path)."""
        if folder not in self._repo_roots:
            self._repo_roots[folder] = next((p for p in (folder, *folder.parents) if (p / ".git").exists()), None)
        return self._repo_roots[folder]

    def workspace_folders(self) -> list[Path]:
        """The client's workspace folders, else its root path."""
        folders = [path for f in self.workspace.folders.values() if (path := file_path(f.uri))]
        if not folders and self.workspace.root_path:
            folders = [Path(self.workspace.root_path)]
        return folders

    def workspace_repos(self) -> list[Path]:
        """The repositories of the workspace: each folder's (resolved), once."""
        repos = {repo.resolve() for folder in self.workspace_folders() if (repo := self.repo_of_folder(folder))}
        return sorted(repos)

    def in_workspace(self, repo: Path | str) -> bool:
        """Whether a run's repository is the workspace's: a folder's repository, or a
        repository inside a folder (a folder holding several). No folders: every one."""
        folders = self.workspace_folders()
        if not folders:
            return True
        path = Path(repo)
        return path in self.workspace_repos() or any(path.is_relative_to(f.resolve()) for f in folders)

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

    def open_document(self, path: Path) -> TextDocument | None:
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

    # --- lifecycle -------------------------------------------------------------------------------

    def on_initialize(self, params: types.InitializeParams) -> None:
        self.support = ClientSupport.of(params.capabilities)
        # wire.InitializationOptions; the server reads `settings` alone, and takes anything
        # but an object there for none.
        options = params.initialization_options
        settings = options.get("settings") if isinstance(options, dict) else None
        self.init_settings = settings if isinstance(settings, dict) else {}
        if not self._check_settings():  # reported; the defaults and the repo's config apply
            self.init_settings = {}

    def experimental_capabilities(self) -> dict[str, Any]:
        """`capabilities.experimental` of the initialize result (MinionProtocol adds it)."""
        self._capabilities = self.minion_capabilities()
        return ExperimentalCapabilities(minion=self._capabilities).dump()

    async def on_initialized(self, params: types.InitializedParams) -> None:
        ClientLogHandler.install(self, asyncio.get_running_loop())
        await self.fetch_configuration()
        for feature in self.features:
            await feature.initialized()
        for repo in {self.repo_of_folder(folder) for folder in self.workspace_folders()}:
            self.warm(repo)

    # --- configuration ---------------------------------------------------------------------------

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

    async def on_did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        pushed = params.settings.get("minion") if isinstance(params.settings, dict) else None
        if isinstance(pushed, dict):
            self.update_client_settings(pushed)
        else:
            await self.fetch_configuration()

    def update_client_settings(self, settings: dict[str, Any]) -> None:
        previous = self.client_settings
        self.client_settings = settings
        if not self._check_settings():
            self.client_settings = previous
        self._tell_capabilities()

    def _check_settings(self) -> bool:
        """Validate the editor's settings now, so a bad key is reported once, clearly."""
        self._settings.clear()
        try:
            load_settings(None, editor=self.editor_settings)
        except ConfigError as e:
            self.message(f"minion: {e}", types.MessageType.Warning)
            return False
        return True

    def on_did_save(self, params: types.DidSaveTextDocumentParams) -> None:
        if path := file_path(params.text_document.uri):
            if path.name in CONFIG_FILES:
                self._settings.clear()
                self._tell_capabilities()
            self.warm(self.repo_root_of(path), pool=False)

    def minion_capabilities(self) -> MinionCapabilities:
        """What the editor needs of the settings, for the workspace's (first) repository."""
        folders = self.workspace_folders()
        repo = self.repo_of_folder(folders[0]) if folders else None
        return MinionCapabilities(todo_patterns=self.settings_for(repo).todo_patterns)

    def _tell_capabilities(self) -> None:
        """`minion/capabilities` when the configuration changed what the client was told."""
        if self._capabilities is None:  # before initialize answered: it carries them
            return
        current = self.minion_capabilities()
        if current != self._capabilities:
            self._capabilities = current
            self.protocol.notify(CAPABILITIES, current.dump())


# --- wiring --------------------------------------------------------------------------------------


def create_server() -> MinionServer:
    from .actions import CodeActions
    from .lenses import Lenses
    from .review import Review
    from .runs import Runs
    from .runview import RunView

    ls = MinionServer()
    ls.feature(types.INITIALIZE)(handler(ls.on_initialize))
    ls.feature(types.INITIALIZED)(handler(ls.on_initialized))
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(handler(ls.on_did_change_configuration))
    ls.feature(types.TEXT_DOCUMENT_DID_SAVE)(handler(ls.on_did_save))

    review = Review(ls)
    runs = Runs(ls, review)
    ls.add_feature(runs)  # first: at start-up, interrupted runs resume before recent results show
    ls.add_feature(review)
    ls.add_feature(CodeActions(ls, review, runs))
    ls.add_feature(Lenses(ls, runs, review))
    ls.add_feature(RunView(ls))
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
