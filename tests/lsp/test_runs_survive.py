"""Runs in worker processes: a killed worker does not take the server down and its run is
reported lost with the reason; a restarted server shows what happened; queued runs and
cancellation through the progress UI."""

import os
import signal

from lsprotocol import types

from minion.runs.store import RunStore
from support.script import bash, done, replace, text, write_script

from lsp_session import (
    code_actions, minion_diagnostics, open_file, run_command, session, settings, titled, until,
)

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]
BUSY = [[bash("sleep 30")], done("never reached")]


def pushed_settings(client, model, **more):
    """The editor pushes new settings (didChangeConfiguration, section minion)."""
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"minion": settings(model, **more)}))


async def hand_off(client, uri):
    """The TODO handed off again and again: each time a new run (forced past the duplicate guard)."""
    handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
    return await run_command(client, "minion.delegate", {**handoff.command.arguments[0], "force": True})


def busy_in_sleep(client, run_id):
    """The run's progress says its agent is running `sleep 30`."""
    reports = [r for token, rs in client.progress_reports.items() if run_id in token for r in rs]
    return any("bash sleep 30" in (r.message or "") for r in reports)


def status_of(recorder, run_id):
    statuses = [s["status"] for s in recorder.run_status if s["id"] == run_id]
    return statuses[-1] if statuses else None


async def test_a_killed_worker_is_reported_lost_and_after_a_restart_shown_and_resumed(calc_repo, tmp_path):
    fix = write_script(tmp_path, FIX, "fix.json")
    busy = write_script(tmp_path, BUSY, "busy.json")
    async with session(calc_repo, "neovim", settings(fix)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        done_run = (await hand_off(client, uri))["runId"]
        await until(lambda: status_of(recorder, done_run) == "ok", what="the first run to end")

        pushed_settings(client, busy)
        doomed = (await hand_off(client, uri))["runId"]
        await until(lambda: busy_in_sleep(client, doomed), what="the worker to be busy")
        worker_pid = RunStore().get(doomed).worker_pid
        assert worker_pid and worker_pid != client._server.pid
        os.kill(worker_pid, signal.SIGKILL)

        await until(lambda: status_of(recorder, doomed) == "lost", what="the run to be reported lost")
        # The server is alive and answers.
        runs = await run_command(client, "minion.runs")
        listed = {r["id"]: r for r in runs}
        assert listed[doomed]["status"] == "lost" and listed[done_run]["status"] == "ok"
        reason = RunStore().get(doomed).error
        assert "killed by SIGKILL" in reason
        announced = await until(lambda: [m for m in recorder.message_requests if doomed in m.message],
                                what="the end-of-run message of the lost run")
        assert "lost" in announced[0].message
        assert [a.title for a in announced[0].actions] == ["Open", "Resume", "Dismiss"]
        warnings = await until(lambda: [d for d in minion_diagnostics(client, uri) if d.code == doomed],
                               what="the lost run's diagnostic")
        assert warnings[0].severity == types.DiagnosticSeverity.Warning and "SIGKILL" in warnings[0].message
        assert warnings[0].range.start.line == 1  # the TODO it was handed off from

    async with session(calc_repo, "neovim", settings(fix)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        # The lost run is the newer on the same TODO: its result replaces the first run's.
        shown = await until(lambda: {d.code: d for d in minion_diagnostics(client, uri)}.keys() == {doomed}
                            and minion_diagnostics(client, uri), what="the lost run's diagnostic after a restart")
        assert "SIGKILL" in shown[0].message
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        assert {lens.command.arguments[0] for lens in lenses} == {doomed}
        assert all(lens.range.start.line == 1 for lens in lenses)

        # The lost run resumes where it stopped; this time its script fixes the bug.
        write_script(tmp_path, FIX, "busy.json")
        resumed = await run_command(client, "minion.resume", doomed)
        assert resumed["runId"] == doomed and resumed["status"] == "running"
        await until(lambda: status_of(recorder, doomed) == "ok", what="the resumed run to end")
        fixed = await until(lambda: [d for d in minion_diagnostics(client, uri)
                                     if d.code == doomed and d.severity == types.DiagnosticSeverity.Information],
                            what="the resumed run's change")
        assert fixed[0].range.start.line == 2
        assert not [d for d in minion_diagnostics(client, uri) if "SIGKILL" in d.message]


async def test_runs_beyond_the_limit_queue_and_both_kinds_cancel(calc_repo, tmp_path):
    busy = write_script(tmp_path, BUSY)
    async with session(calc_repo, "vscode", settings(busy, maxConcurrentRuns=1)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        first = await hand_off(client, uri)
        second = await hand_off(client, uri)
        assert (first["status"], second["status"]) == ("running", "queued")

        cancelled = await run_command(client, "minion.cancel", second["runId"])
        assert cancelled == {"runId": second["runId"], "status": "cancelled"}
        assert RunStore().get(second["runId"]).status.value == "cancelled"

        # The running one is cancelled from the progress UI.
        token = await until(lambda: next((t for t in client.progress_reports if first["runId"] in t), None),
                            what="the first run's progress")
        await until(lambda: busy_in_sleep(client, first["runId"]), what="the worker to be busy")
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        by_run = {lens.command.arguments[0]: lens for lens in lenses}
        assert by_run[first["runId"]].command.title == "minion running · implement (cancel)"
        assert by_run[first["runId"]].command.command == "minion.cancel"
        assert by_run[second["runId"]].command.title.startswith("minion cancelled")
        assert all(lens.range.start.line == 1 for lens in lenses)
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        await until(lambda: status_of(recorder, first["runId"]) == "cancelled", timeout=20, what="the cancel")
        assert client.progress_reports[token][-1].kind == "end"
        assert recorder.lens_refreshes > 0  # VS Code refreshes lenses on status changes
