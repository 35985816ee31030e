"""Helpers for the LSP tests: an LSP session against `minion serve` in a subprocess, as a given editor would hold it.

The client records what the server sends: diagnostics, progress, messages, shown
documents (pytest-lsp does that), plus the requests pytest-lsp has no handler for
(showMessageRequest, applyEdit, codeLens/refresh), `minion/runStatus`, `minion/capabilities`
and the initialize result.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Union

import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from support.script import PYTEST

# A TODO for minion above the bug that tests/test_ops.py catches.
OPS = "def add(a, b):\n    # TODO(minion): make add() add\n    return a - b\n"
FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": OPS,
    "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    ".gitignore": "__pycache__/\n*.log\n",
}

# No progress, no showDocument, no codeDescription, no workspace/configuration: an
# Emacs-eglot-like client that still takes code action literals and applyEdit.
BARE = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(apply_edit=True),
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "refactor"]))),
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(),
    ),
)

PROFILES = {
    "vscode": lambda: pytest_lsp.client_capabilities("visual_studio_code"),
    "neovim": lambda: pytest_lsp.client_capabilities("neovim@v0.11.0"),
    "bare": lambda: BARE,
}



def settings(model: str, **more: Any) -> dict[str, Any]:
    """Editor settings for a test: the scripted model, the repo's tests as the check."""
    # No repo map: it needs no grammar warm-up, and these runs do not read it.
    return {"model": model, "checks": {"tests": PYTEST}, "repoMapTokens": 0, **more}


class Recorder:
    """What the server asked of the client beyond pytest-lsp's own records."""

    def __init__(self, client: LanguageClient, *, answer: str | None):
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.applied_edits: list[types.WorkspaceEdit] = []
        self.run_status: list[dict[str, Any]] = []
        self.capabilities: list[dict[str, Any]] = []  # minion/capabilities
        self.initialize_result: types.InitializeResult | None = None
        self.diagnostics_version: dict[str, int | None] = {}
        self.lens_refreshes = 0

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish_diagnostics(params: types.PublishDiagnosticsParams):
            client.diagnostics[params.uri] = params.diagnostics
            self.diagnostics_version[params.uri] = params.version

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def message_request(params: types.ShowMessageRequestParams):
            self.message_requests.append(params)
            return types.MessageActionItem(title=answer) if answer else None

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: types.ApplyWorkspaceEditParams):
            self.applied_edits.append(params.edit)
            return types.ApplyWorkspaceEditResult(applied=True)

        @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def lens_refresh(params):
            self.lens_refreshes += 1

        @client.feature("minion/runStatus")
        def run_status(params):  # pygls hands over a custom method's params as a namedtuple
            self.run_status.append(params._asdict())

        @client.feature("minion/capabilities")
        def capabilities(params):
            self.capabilities.append(params._asdict())


def _code_action_or_command(client: LanguageClient):
    """lsprotocol's client-side hook takes any item with a `command` key for a Command,
    losing a CodeAction's edit: only a string `command` makes a Command."""
    converter = client.protocol._converter

    def hook(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    # The key must be typing.Union, as lsprotocol registered it (`A | B` is another type).
    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


@asynccontextmanager
async def session(repo: Path, profile: str, editor_settings: dict[str, Any], *, answer: str | None = None):
    """A client with the profile's capabilities, initialized on the repo's folder."""
    client = LanguageClient(converter_factory=default_converter)
    register_lsp_features(client, {method: handler for method, handler in DEFAULT_CLIENT_FEATURES.items()
                                   if method != types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS})
    _code_action_or_command(client)
    recorder = Recorder(client, answer=answer)
    await client.start_io(sys.executable, "-m", "minion.cli", "serve")
    try:
        recorder.initialize_result = await client.initialize_session(types.InitializeParams(
            capabilities=PROFILES[profile](),
            root_uri=repo.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name=repo.name)],
            initialization_options={"settings": editor_settings},
        ))
        yield client, recorder
    finally:
        await _end(client)


async def _end(client: LanguageClient) -> None:
    """Shut the server down politely, or kill it: a failed test must not hang on it."""
    try:
        await asyncio.wait_for(client.shutdown_session(), 10)
    except Exception:
        if client._server and client._server.returncode is None:
            client._server.kill()
    await client.stop()


def open_file(client: LanguageClient, path: Path, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=version, text=path.read_text())))
    return uri


async def code_actions(client: LanguageClient, uri: str, line: int, *, end: types.Position | None = None,
                       diagnostics: list[types.Diagnostic] = ()) -> list[types.CodeAction | types.Command]:
    start = types.Position(line=line, character=0)
    return await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start, end or start),
        context=types.CodeActionContext(diagnostics=list(diagnostics)),
    )) or []


def titled(actions, prefix: str):
    """The one action whose title starts with ``prefix``."""
    found = [a for a in actions if a.title.startswith(prefix)]
    assert len(found) == 1, [a.title for a in actions]
    return found[0]


async def run_command(client: LanguageClient, command: types.Command | str, *arguments: Any) -> Any:
    """Execute an action's command, or the named command with ``arguments``."""
    if isinstance(command, str):
        command = types.Command(title=command, command=command, arguments=list(arguments))
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments))


async def until(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll until ``predicate()`` (plain or async) is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def minion_diagnostics(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.source == "minion"]


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (whole-line ranges in ASCII text) the way an editor does."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position: types.Position) -> int:
        return offsets[min(position.line, len(lines))] + position.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def edits_for(edit: types.WorkspaceEdit, uri: str) -> tuple[list[types.TextEdit], int | None]:
    """The text edits a WorkspaceEdit makes to one document, and the version it requires."""
    if edit.document_changes:
        changes = [c for c in edit.document_changes
                   if isinstance(c, types.TextDocumentEdit) and c.text_document.uri == uri]
        return [e for c in changes for e in c.edits], changes[0].text_document.version if changes else None
    return list((edit.changes or {}).get(uri, [])), None
