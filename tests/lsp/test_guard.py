"""A code action's command survives the user's typing (it finds its TODO by content, not
by the stale line), and a TODO that has an active or unreviewed run is guarded: "Show run"
first, and `minion.delegate` answers `duplicateOf` until it is forced."""

from lsprotocol import types

from minion.runs.store import RunStore
from support.script import bash, done, replace, text, write_script

from lsp_session import OPS, code_actions, open_file, run_command, session, settings, titled, until

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]
BUSY = [[bash("sleep 30")], done("never reached")]
TWO_TODOS = ("def sub(a, b):\n    # TODO(minion): make sub() check its types\n    return a - b\n\n\n" + OPS)


def insert_at_top(client, uri: str, version: int, line: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line=0, character=0), types.Position(line=0, character=0)),
            text=line)]))


async def test_the_command_starts_on_the_right_todo_after_three_edits_above_it(calc_repo, tmp_path):
    (calc_repo / "calc/ops.py").write_text(TWO_TODOS)
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, "vscode", settings(model)) as (client, _):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 6), "Hand off TODO to minion")  # add()'s TODO
        assert handoff.command.arguments[0]["version"] == 1
        # Three edits above the TODO: it moves down three lines, and the sub() TODO moves
        # onto the line the command names.
        insert_at_top(client, uri, 2, "import operator\n")
        insert_at_top(client, uri, 3, "\n")
        insert_at_top(client, uri, 4, "# helpers\n")
        started = await run_command(client, handoff.command)
        record = RunStore().get(started["runId"])
        assert record.task == "make add() add"
        assert (record.anchor.kind, record.anchor.start_line, record.anchor.text) == ("todo", 9, "make add() add")

        # A TODO whose text is gone says so (no run on whatever is on that line now).
        second = titled(await code_actions(client, uri, 4), "Hand off TODO to minion")  # sub()'s TODO, line 4
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=5),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1\n" * 12)]))
        try:
            await run_command(client, second.command)
            raise AssertionError("a TODO that is gone started a run")
        except Exception as error:
            assert "no TODO for minion" in str(error)


async def test_a_todo_with_an_active_or_unreviewed_run_offers_it_first_and_asks_before_a_duplicate(
        calc_repo, tmp_path):
    busy = write_script(tmp_path, BUSY, "busy.json")
    async with session(calc_repo, "neovim", settings(busy)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        first = await run_command(client, handoff.command)
        run_id = first["runId"]

        actions = await code_actions(client, uri, 1)
        assert actions[0].title in (f"Show run {run_id} (queued)", f"Show run {run_id} (running)")
        assert actions[0].command.command == "minion.showRun"
        assert list(actions[0].command.arguments) == [{"runId": run_id}]
        shown = await run_command(client, actions[0].command)
        assert shown["id"] == run_id and not shown["ended"]
        assert titled(actions, "Hand off TODO to minion")  # still offered, after it

        again = await run_command(client, handoff.command)
        assert again["duplicateOf"] == run_id and again["status"] in ("queued", "running")
        assert [r["id"] for r in await run_command(client, "minion.runs")] == [run_id]
        # A selection elsewhere is no duplicate; nor is the TODO's after a forced hand-off.
        lines_elsewhere = await code_actions(client, uri, 0, end=types.Position(line=0, character=5))
        assert not [a for a in lines_elsewhere if a.title.startswith("Show run")]
        await run_command(client, "minion.cancel", run_id)
        await until(lambda: [s for s in recorder.run_status if s["id"] == run_id and s["ended"]], what="the cancel")

        # Ended but not reviewed (its result is shown): still guarded.
        after = await code_actions(client, uri, 1)
        assert after[0].title.startswith(f"Show run {run_id} (cancelled")
        forced = {**handoff.command.arguments[0], "force": True}
        second = await run_command(client, "minion.delegate", forced)
        assert second["runId"] != run_id and second["status"] in ("queued", "running")
        await run_command(client, "minion.cancel", second["runId"])
        # Discarded: the first run no longer guards the TODO (the second one, cancelled, still does).
        await until(lambda: [s for s in recorder.run_status if s["id"] == second["runId"] and s["ended"]],
                    what="the second cancel")
        await run_command(client, "minion.discard", {"runId": run_id})
        titles = [a.title for a in await code_actions(client, uri, 1)]
        assert not [t for t in titles if t.startswith(f"Show run {run_id}")]
        assert titles[0].startswith(f"Show run {second['runId']}")
