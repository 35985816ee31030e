"""No stale state: an applied run's diagnostics and lens go (also after a restart); a
newer run's results replace an older run's on the same lines; messages name the editor's
settings, not the command line's flags."""

import pytest
from lsprotocol import types

from support.script import done, replace, text, write_script

from lsp_session import (
    OPS, apply_text_edits, code_actions, edits_for, minion_diagnostics, open_file, run_command, session, settings,
    titled, until,
)

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]
WRONG = [[text("Multiply."), replace("calc/ops.py", "return a - b", "return a * b")], done("add() multiplies.")]


async def lenses(client, uri):
    return await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))) or []


def ended(recorder, run_id):
    return [s for s in recorder.run_status if s["id"] == run_id and s["ended"]]


def replace_text(client, uri: str, version: int, new_text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)]))


async def test_apply_clears_the_runs_diagnostics_and_lens_also_after_a_restart(calc_repo, tmp_path):
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, "vscode", settings(model)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO")
        run_id = (await run_command(client, handoff.command))["runId"]
        await until(lambda: minion_diagnostics(client, uri), what="the run's diagnostics")
        assert [lens.command.arguments[0] for lens in await lenses(client, uri)] == [run_id]
        assert await run_command(client, "minion.apply", run_id) == {"applied": 1, "skipped": 0}
        # The editor applies the edit to its buffer.
        edits, version = edits_for(recorder.applied_edits[-1], uri)
        replace_text(client, uri, (version or 1) + 1, apply_text_edits(OPS, edits))
        await until(lambda: not minion_diagnostics(client, uri), timeout=10, what="the diagnostics to clear")
        assert await lenses(client, uri) == []
        assert not [a for a in await code_actions(client, uri, 1) if a.title.startswith("Show run")]
    # After a restart (the file on disk still has the old text) it does not come back.
    async with session(calc_repo, "vscode", settings(model)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        rows = await run_command(client, "minion.runs")
        assert [r["id"] for r in rows] == [run_id]
        assert not minion_diagnostics(client, uri) and await lenses(client, uri) == []


async def test_a_newer_runs_results_replace_an_older_runs_on_the_same_lines(calc_repo, tmp_path):
    wrong = write_script(tmp_path, WRONG, "wrong.json")
    async with session(calc_repo, "neovim", settings(wrong)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        test_uri = open_file(client, calc_repo / "tests/test_ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO")
        old = (await run_command(client, handoff.command))["runId"]
        await until(lambda: ended(recorder, old), what="the first run to end")
        errors = await until(lambda: minion_diagnostics(client, test_uri), what="the failed check's error")
        assert errors[0].severity == types.DiagnosticSeverity.Error and errors[0].code == old

        write_script(tmp_path, FIX, "wrong.json")  # the second round gets it right
        new = (await run_command(client, "minion.delegate", {**handoff.command.arguments[0], "force": True}))["runId"]
        await until(lambda: ended(recorder, new), what="the second run to end")
        await until(lambda: {d.code for d in minion_diagnostics(client, uri)} == {new}, what="only the new run's change")
        await until(lambda: not minion_diagnostics(client, test_uri), what="the old check error to go")
        assert [lens.command.arguments[0] for lens in await lenses(client, uri)] == [new]


@pytest.mark.parametrize("profile", ["vscode", "neovim"])
async def test_a_missing_key_is_said_as_the_editor_setting(calc_repo, profile):
    async with session(calc_repo, profile, settings("anthropic:claude-sonnet-4-5")) as (client, _):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO")
        with pytest.raises(Exception) as error:
            await run_command(client, handoff.command)
        said = str(error.value)
        assert "ANTHROPIC_API_KEY" in said and "--model" not in said
        assert "minion.model in VS Code, settings.model in Neovim" in said
        shown = [m.message for m in client.messages if "ANTHROPIC_API_KEY" in m.message]
        assert shown and "--model" not in shown[0]


async def test_discarding_a_working_run_cancels_it_and_removes_its_worktree_once_it_wound_down(calc_repo, tmp_path):
    from pathlib import Path

    from minion.runs.store import RunStore
    from support.script import bash

    busy = write_script(tmp_path, [[bash("sleep 30")], done("never reached")])
    async with session(calc_repo, "neovim", settings(busy)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        run_id = (await run_command(client, titled(await code_actions(client, uri, 1), "Hand off TODO").command))["runId"]
        await until(lambda: [s for s in recorder.run_status if s["id"] == run_id and s["node"] == "implement"],
                    what="the run to work")
        worktree = Path(RunStore().get(run_id).worktree)
        assert worktree.is_dir()
        answer = await run_command(client, "minion.discard", {"runId": run_id, "deleteBranch": True})
        assert answer == {"runId": run_id, "discarded": True, "branchDeleted": False, "worktreeRemoved": False}
        await until(lambda: ended(recorder, run_id), timeout=30, what="the cancelled run's end")
        await until(lambda: not worktree.exists(), timeout=10, what="its worktree to go")
        record = RunStore().get(run_id)
        assert record.status.value == "cancelled"
        assert not minion_diagnostics(client, uri) and await lenses(client, uri) == []
        assert not [m for m in recorder.message_requests if run_id in m.message]  # discarded: not announced
