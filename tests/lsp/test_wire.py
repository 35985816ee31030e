"""The run rules and settings the editors read from the wire instead of copying them: the
runs rows' and `minion/runStatus`'s `actions`, `resumable` and `ended` follow Status's rules,
and the TODO markers come in the initialize result, then in `minion/capabilities` when
the configuration changes them."""

import asyncio
import os
import time

from lsprotocol import types

from minion.lsp.wire import Command
from minion.runs.model import RunRecord, Status
from minion.runs.store import RunStore
from support.script import done, replace, text, write_script

from lsp_session import code_actions, open_file, run_command, session, settings, titled, until

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]


def rules(status: Status, files: list[str]) -> dict:
    """What the wire must say of a run, by Status's rules (runs/model.py)."""
    return {"actions": status.actions(has_changes=bool(files)), "resumable": status.resumable,
            "ended": not status.active}


def stored(store: RunStore, run_id: str, status: Status, created_at: float, **more) -> RunRecord:
    record = RunRecord(run_id, created_at, created_at, status, "/elsewhere", f"task {run_id}", "default",
                       "scripted:x", **more)
    store.create(record)
    return record


async def test_runs_rows_carry_each_status_rules(calc_repo):
    store = RunStore()
    now = time.time()
    kinds = {  # id: (status, files); newest first below
        "okfiles": (Status.OK, ["calc/ops.py"]),
        "failednone": (Status.FAILED, []),
        "cancelled": (Status.CANCELLED, ["calc/ops.py"]),
        "lostrun": (Status.LOST, []),
        "capped": (Status.CAPPED_COST, ["calc/ops.py"]),
        "checks": (Status.FAILED_CHECKS, ["calc/ops.py"]),
        "working": (Status.RUNNING, []),  # its worker is alive (this process): followed, not lost
    }
    for age, (run_id, (status, files)) in enumerate(kinds.items()):
        stored(store, run_id, status, now - age - 0.25, files=files,
               worker_pid=os.getpid() if status.active else None)
    async with session(calc_repo, "neovim", settings("scripted:/none.json")) as (client, _):
        rows = {row["id"]: row for row in await run_command(client, "minion.runs", {"scope": "all"})}
        assert await run_command(client, "minion.runs") == []  # none of them is the workspace's
    assert set(rows) == set(kinds)
    for run_id, (status, files) in kinds.items():
        row = rows[run_id]
        assert row["status"] == status.value
        assert {key: row[key] for key in ("actions", "resumable", "ended")} == rules(status, files), run_id
        assert isinstance(row["created_at"], float) and row["created_at"] == store.get(run_id).created_at
    # What those rules come to, spelled out for a few.
    assert rows["working"]["actions"] == ["minion.openReport", "minion.cancel"] and not rows["working"]["ended"]
    assert rows["okfiles"]["actions"] == ["minion.openReport", "minion.apply", "minion.discard"]
    assert rows["lostrun"]["actions"] == ["minion.openReport", "minion.resume", "minion.discard"]
    assert rows["lostrun"]["resumable"] and rows["capped"]["resumable"] and not rows["checks"]["resumable"]
    assert rows["failednone"]["actions"] == ["minion.openReport", "minion.discard"]


async def test_run_status_notifications_carry_the_rules_of_each_status_they_say(calc_repo, tmp_path):
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, "vscode", settings(model, maxConcurrentRuns=1)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        first = await run_command(client, handoff.command)
        second = await run_command(client, "minion.delegate", {**handoff.command.arguments[0], "force": True})
        assert second["status"] == "queued"
        assert await run_command(client, "minion.cancel", second["runId"]) == {
            "runId": second["runId"], "status": "cancelled"}

        def said(run_id):
            return [s for s in recorder.run_status if s["id"] == run_id]

        await until(lambda: said(first["runId"]) and said(first["runId"])[-1]["status"] == "ok", what="the run to end")
        await until(lambda: said(second["runId"]) and said(second["runId"])[-1]["status"] == "cancelled",
                    what="the cancelled run's status")
    files = RunStore().get(first["runId"]).files
    assert files == ["calc/ops.py"]
    seen = set()
    for run_id in (first["runId"], second["runId"]):
        for status in said(run_id):
            ended = Status(status["status"])
            # While the run works its record has no files yet; at its end it has them.
            expected = rules(ended, files if not ended.active and run_id == first["runId"] else [])
            assert {key: status[key] for key in ("actions", "resumable", "ended")} == expected, status
            seen.add(ended)
    assert {Status.QUEUED, Status.RUNNING, Status.OK, Status.CANCELLED} <= seen
    assert said(second["runId"])[-1]["actions"] == ["minion.openReport", "minion.resume", "minion.discard"]


async def test_initialize_carries_the_todo_markers_and_a_change_of_configuration_tells_them_again(calc_repo):
    (calc_repo / ".minion").mkdir()
    (calc_repo / ".minion" / "config.toml").write_text('todo_patterns = ["FIXME(minion)"]\n')
    async with session(calc_repo, "vscode", settings("scripted:/none.json")) as (client, recorder):
        result = recorder.initialize_result
        # The repository's config, which the editor was never told of.
        assert result.capabilities.experimental == {"minion": {"todo_patterns": ["FIXME(minion)"]}}
        assert set(result.capabilities.execute_command_provider.commands) == {str(c) for c in Command}

        # The editor's configuration (workspace/configuration, asked again on the change) says
        # another marker. (Whichever answer comes first, the server's own after initialized
        # or this one, the markers change once.)
        client.set_configuration({"todoPatterns": ["TODO(bot)"]}, section="minion")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        told = await until(lambda: recorder.capabilities, timeout=10, what="minion/capabilities")
        assert told == [{"todo_patterns": ["TODO(bot)"]}]
        # The same configuration again changes nothing: nothing is said.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)  # time for the server to ask and hear the answer
        path = calc_repo / "calc/ops.py"
        path.write_text("def add(a, b):\n    # TODO(bot): make add() add\n    return a - b\n")
        uri = open_file(client, path)
        assert titled(await code_actions(client, uri, 1), "Hand off TODO to minion")  # the server has it
        assert len(recorder.capabilities) == 1
