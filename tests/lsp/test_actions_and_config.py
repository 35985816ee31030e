"""Which code actions a client gets, and how editor settings reach the server (no runs)."""

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from lsp_session import code_actions, open_file, run_command, session, settings, titled, until


def with_llm_tag(capabilities: types.ClientCapabilities) -> types.ClientCapabilities:
    capabilities.text_document.code_action.tag_support = types.CodeActionTagOptions(
        value_set=[types.CodeActionTag.LlmGenerated])
    return capabilities


async def test_actions_for_selection_todo_and_foreign_diagnostic_follow_the_settings(calc_repo):
    # initializationOptions say one TODO pattern; workspace/configuration overrides it.
    initial = settings("scripted:/none.json", todoPatterns=["TODO(minion)"])
    async with session(calc_repo, "vscode", initial) as (client, _):
        client.set_configuration({"todoPatterns": ["TODO(bot)"]}, section="minion")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        path = calc_repo / "calc/ops.py"
        path.write_text("def add(a, b):\n    # TODO(bot): make add() add\n    return a - b\n")
        uri = open_file(client, path)

        name = types.Range(types.Position(line=2, character=4), types.Position(line=2, character=16))
        ruff = types.Diagnostic(range=name, message="F821 undefined name\nmore detail", source="ruff", code="F821")
        selection = await code_actions(client, uri, 0, end=types.Position(line=2, character=16), diagnostics=[ruff])
        delegate = titled(selection, "Delegate to minion…")
        assert delegate.kind == types.CodeActionKind.RefactorRewrite
        argument = delegate.command.arguments[0]
        assert (argument["kind"], argument["instruction"], argument["range"]["end"]) == (
            "selection", None, {"line": 2, "character": 16})
        fix = titled(selection, "Ask minion to fix: F821 undefined name")
        assert fix.kind == types.CodeActionKind.QuickFix and fix.diagnostics[0].code == "F821"
        assert fix.command.arguments[0]["diagnostic"] == {"message": "F821 undefined name\nmore detail",
                                                          "source": "ruff", "code": "F821"}
        # The TODO pattern comes from workspace/configuration.
        async def handoff_offered():
            return [a for a in await code_actions(client, uri, 1) if a.title == "Hand off TODO to minion"]

        await until(handoff_offered, timeout=10, what="the TODO(bot) pattern to apply")

        # `only` narrows by hierarchical kind.
        refactors = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(line=0, character=0), types.Position(line=2, character=16)),
            context=types.CodeActionContext(diagnostics=[ruff], only=[types.CodeActionKind.Refactor])))
        assert [a.title for a in refactors] == ["Delegate to minion…"]


async def test_a_bad_setting_is_reported_once_and_the_previous_settings_stay(calc_repo):
    async with session(calc_repo, "neovim", settings("scripted:/none.json")) as (client, _):
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"minion": {"maxConcurrentRuns": 0}}))
        uri = open_file(client, calc_repo / "calc/ops.py")
        assert titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        [warning] = [m for m in client.messages if "max_concurrent_runs" in m.message]
        assert warning.type == types.MessageType.Warning


async def test_outside_a_git_repository_or_a_file_there_is_nothing_to_delegate(tmp_path):
    loose = tmp_path / "loose.py"
    loose.write_text("# TODO(minion): something\nx = 1\n")
    async with session(tmp_path, "vscode", settings("scripted:/none.json")) as (client, _):
        uri = open_file(client, loose)
        assert await code_actions(client, uri, 0, end=types.Position(line=1, character=5)) == []
        # An unsaved new buffer is no file: pygls would place it in the server's own folder.
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri="untitled:Untitled-1", language_id="python", version=1, text=loose.read_text())))
        assert await code_actions(client, "untitled:Untitled-1", 0, end=types.Position(line=1, character=5)) == []
        assert not [m for m in client.messages if m.type == types.MessageType.Error]


def test_the_llm_tag_goes_only_to_clients_that_advertise_it():
    from minion.lsp.actions import Offer
    from minion.lsp.capabilities import ClientSupport

    class Server:
        def __init__(self, capabilities):
            self.support = ClientSupport.of(capabilities)

    edit = types.WorkspaceEdit(changes={})
    offer = Offer("Apply this change", types.CodeActionKind.QuickFix,
                  types.Command(title="x", command="minion.applyHunk"), edit=edit, llm_generated=True)
    tagged = offer.to_lsp(Server(with_llm_tag(pytest_lsp.client_capabilities("visual_studio_code"))))
    assert tagged.tags == [types.CodeActionTag.LlmGenerated] and tagged.edit == edit
    assert offer.to_lsp(Server(pytest_lsp.client_capabilities("visual_studio_code"))).tags is None
    # A client without code action literals gets the command that does the same.
    assert offer.to_lsp(Server(types.ClientCapabilities())).command == "minion.applyHunk"


async def test_a_delegation_that_cannot_start_says_why(calc_repo):
    async with session(calc_repo, "neovim", settings("gpt:4")) as (client, _):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        with pytest.raises(JsonRpcInvalidParams, match="unknown model spec"):
            await run_command(client, handoff.command)
        [shown] = [m for m in client.messages if m.type == types.MessageType.Error]
        assert "unknown model spec" in shown.message
