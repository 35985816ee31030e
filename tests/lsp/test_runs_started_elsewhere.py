"""A run started outside the server (as `minion run` does: created and executed in another
process's code, here the test's own) is live in the editor without a restart: it is listed,
its progress comes as runStatus from its event log, and its end brings its diagnostics and
the end-of-run message."""

import asyncio

from lsprotocol import types

from minion.context import Anchor
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.store import RunStore
from support.gitrepo import run_git
from support.script import bash, done, replace, text, write_script

from lsp_session import code_actions, minion_diagnostics, open_file, run_command, session, settings, until

SLOW_FIX = [[text("Look first."), bash("sleep 2")],
            [text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")],
            done("add() now adds.")]


def execute_elsewhere(run_id: str) -> None:
    """The run executed to its end in a thread of the test process, with its own loop."""
    asyncio.run(execute_run(run_id, RunStore()))


async def test_a_run_started_elsewhere_is_listed_followed_and_its_result_shown(calc_repo, tmp_path):
    model = write_script(tmp_path, SLOW_FIX)
    async with session(calc_repo, "vscode", settings(model)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        assert await run_command(client, "minion.runs") == []
        request = RunRequest(task="make add() add", repo=calc_repo, editor_settings=settings(model),
                             anchor=Anchor("todo", "calc/ops.py", 1, 1, "make add() add"))
        record = await asyncio.to_thread(create_run, request, RunStore())
        execution = asyncio.ensure_future(asyncio.to_thread(execute_elsewhere, record.id))

        def said():
            return [s for s in recorder.run_status if s["id"] == record.id]

        # Its progress, read from its event log: the node it is at, then its end.
        working = await until(lambda: [s for s in said() if s["node"] == "implement"], timeout=30,
                              what="runStatus at the implement node")
        assert working[0]["status"] == "running" and working[0]["repo"] == str(calc_repo.resolve())
        assert working[0]["title"].startswith("implement · turn ")
        rows = await run_command(client, "minion.runs")
        assert [r["id"] for r in rows] == [record.id] and not rows[0]["ended"]
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        assert [(lens.range.start.line, lens.command.command) for lens in lenses] == [(1, "minion.cancel")]
        # The TODO it works on is guarded here too.
        actions = await code_actions(client, uri, 1)
        assert actions[0].title.startswith(f"Show run {record.id} (")
        await execution
        await until(lambda: said() and said()[-1]["status"] == "ok", timeout=30, what="runStatus ok")

        # Its result, as for the server's own runs.
        [change] = await until(lambda: minion_diagnostics(client, uri), timeout=30, what="its diagnostics")
        assert change.code == record.id and change.range.start.line == 2
        assert change.severity == types.DiagnosticSeverity.Information and "add() now adds." in change.message
        announced = await until(lambda: [m for m in recorder.message_requests if record.id in m.message],
                                what="the end-of-run message")
        assert "ok" in announced[0].message
        assert (await run_command(client, "minion.showRun", {"runId": record.id}))["status"] == "ok"
        # Followed once: one end, one message.
        await asyncio.sleep(1.5)
        assert len([m for m in recorder.message_requests if record.id in m.message]) == 1
        assert len([s for s in said() if s["status"] == "ok"]) == 1


async def test_a_run_that_ended_between_two_polls_is_announced_and_older_ones_are_not(calc_repo):
    import time

    from minion.runs.model import RunRecord, Status

    store = RunStore()
    repo = str(calc_repo.resolve())
    anchor = Anchor("todo", "calc/ops.py", 1, 1, "make add() add")
    head = run_git(calc_repo, "rev-parse", "HEAD")  # the runs' base: their warnings sit at the TODO
    store.create(RunRecord("01d0ne", time.time() - 60, time.time() - 50, Status.FAILED, repo, "an old one",
                           "default", "scripted:x", anchor=anchor, base=head, summary="it failed long ago"))
    async with session(calc_repo, "vscode", settings("scripted:/none.json")) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        await until(lambda: minion_diagnostics(client, uri), what="the old run's warning (a recent result)")
        store.create(RunRecord("f4st00", time.time(), time.time(), Status.FAILED, repo, "a quick one",
                               "default", "scripted:x", anchor=anchor, base=head, summary="it failed at once"))
        announced = await until(lambda: [m for m in recorder.message_requests if "f4st00" in m.message],
                                timeout=10, what="the quick run's end-of-run message")
        assert "it failed at once" in announced[0].message
        # Its warning replaces the older run's at the same TODO.
        await until(lambda: {d.code for d in minion_diagnostics(client, uri)} == {"f4st00"}, timeout=10,
                    what="the newer run's warning alone")
        await asyncio.sleep(1.5)
        assert not [m for m in recorder.message_requests if "01d0ne" in m.message]
        assert len([m for m in recorder.message_requests if "f4st00" in m.message]) == 1
