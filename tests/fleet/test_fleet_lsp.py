"""A run from the language server on the fleet: with executor = "temporal" in the editor's
settings, a TODO handed off by a code action goes to a `minion worker`; its progress reaches
the editor, it ends ok, its result comes back as diagnostics, and its branch has the same
tree as a local run of the same script; the user's repository is untouched but for the
branch. A cancel from the editor ends a fleet run with its work so far on the branch. A
fleet that does not answer is said at the hand-off, with nothing created. A fleet run goes
on when the editor goes away, and the next server brings it home. Sent back with feedback,
its next round runs on the fleet too."""

import json
import os
import subprocess
import sys
import time

import pytest
from lsp.lsp_session import (
    FILES,
    code_actions,
    minion_diagnostics,
    open_file,
    run_command,
    session,
    settings,
    titled,
    until,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git
from support.script import bash, done, replace, text, write_script

from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")
FIX = [[text("Make add() add."), FIX_ADD], done("add() now adds.")]
FLEET_TIMEOUT_S = 120  # a run on the fleet on a busy machine (not an assertion on speed)


@pytest.fixture
def calc_repo(tmp_path):
    """tests/lsp's repository: a calc package with a TODO for minion above the bug."""
    return make_repo(tmp_path / "user repo ü", FILES)


def statuses(recorder, run_id: str) -> list[str]:
    return [s["status"] for s in recorder.run_status if s["id"] == run_id]


def progress_of(client, run_id: str) -> list:
    found = [reports for token, reports in client.progress_reports.items() if run_id in str(token)]
    return found[0] if found else []


def ran_on(run_id: str) -> str:
    [event] = [e for e in read_events(log_path(run_id)) if e["type"] == "fleet.run"]
    return event["worker"]


async def hand_off(client, repo):
    uri = open_file(client, repo / "calc/ops.py")
    handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
    return uri, await run_command(client, handoff.command)


async def test_a_todo_handed_off_from_the_editor_runs_on_the_fleet_and_ends_as_a_local_run_does(
        calc_repo, tmp_path, start_worker, fleet_env):
    worker = start_worker("lsp1")
    before = fingerprint(calc_repo)
    (tmp_path / "fleet").mkdir()
    (tmp_path / "local").mkdir()
    model = write_script(tmp_path / "fleet", FIX)
    started_at = time.monotonic()
    async with session(calc_repo, "vscode", settings(model, executor="temporal")) as (client, recorder):
        uri, started = await hand_off(client, calc_repo)
        assert started["status"] == "queued" and started["branch"].startswith("minion/make-add-add-"), started
        run_id, branch = started["runId"], started["branch"]

        # Its result comes back as for a local run: a diagnostic on the changed line.
        [change] = await until(lambda: minion_diagnostics(client, uri), FLEET_TIMEOUT_S, "minion's diagnostics")
        print(f"the fleet run took {time.monotonic() - started_at:.1f}s from hand-off to diagnostics")
        assert change.range.start.line == 2 and change.code == run_id and "add() now adds." in change.message

        # Its progress reached the editor as it went: runStatus and $/progress, node by node.
        said = statuses(recorder, run_id)
        assert said[0] == "queued" and "running" in said and said[-1] == "ok", said
        reports = progress_of(client, run_id)
        kinds = [r.kind for r in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end" and reports[0].cancellable, kinds
        messages = [r.message for r in reports if r.kind == "report"]
        assert "implement…" in messages and any(m.startswith("check: tests") for m in messages), messages
        assert reports[-1].message.startswith("ok")

        # The end was announced, as for a local run.
        [announced] = await until(lambda: recorder.message_requests, 10, "the end-of-run message")
        assert run_id in announced.message and branch in announced.message

    # It ran on the worker and came home: the record, the branch, nothing else of the user's.
    record = RunStore().get(run_id)
    assert record.status is Status.OK and record.settings.executor == "temporal"
    assert record.files == ["calc/ops.py"] and [c.ok for c in record.checks] == [True]
    assert ran_on(run_id) == worker.name
    assert run_git(calc_repo, "rev-parse", f"refs/heads/{branch}") == record.head
    assert_unchanged(before, fingerprint(calc_repo))
    assert run_git(calc_repo, "for-each-ref", "--format=%(refname)", "refs/remotes") == ""
    on_worker = subprocess.run([sys.executable, "-m", "minion", "show", run_id, "--json"], capture_output=True,
                               text=True, env={**os.environ, "MINION_STATE_DIR": str(worker.state)}, cwd=tmp_path)
    assert on_worker.returncode == 0 and json.loads(on_worker.stdout)["status"] == "ok", on_worker.stderr

    # The same script run locally ends with the same tree on its branch.
    local = subprocess.run([sys.executable, "-m", "minion", "run", "make add() add", "--model",
                            write_script(tmp_path / "local", FIX), "--json"],
                           cwd=calc_repo, capture_output=True, text=True, timeout=FLEET_TIMEOUT_S)
    assert local.returncode == 0, local.stderr
    local_branch = json.loads(local.stdout)["branch"]
    assert run_git(calc_repo, "rev-parse", f"{branch}^{{tree}}") == run_git(calc_repo, "rev-parse",
                                                                          f"{local_branch}^{{tree}}")


async def test_a_cancel_from_the_editor_ends_a_fleet_run_with_its_work_on_the_branch(
        calc_repo, tmp_path, start_worker, fleet_env):
    start_worker("lsp2")
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, [[text("Fix it."), FIX_ADD], [bash("sleep 120")], done()])
    async with session(calc_repo, "vscode", settings(model, executor="temporal")) as (client, recorder):
        _, started = await hand_off(client, calc_repo)
        run_id = started["runId"]

        def sleeping():  # the worker runs the command, in its sandbox
            return any((r.message or "").startswith("implement: bash")
                       for r in progress_of(client, run_id) if r.kind == "report")

        await until(sleeping, FLEET_TIMEOUT_S, "the run's bash command on the worker")
        cancelled_at = time.monotonic()
        assert await run_command(client, "minion.cancel", run_id) == {"runId": run_id, "status": "cancelling"}
        await until(lambda: statuses(recorder, run_id)[-1] == "cancelled", 30, "the cancel")
        elapsed = time.monotonic() - cancelled_at
        print(f"the cancel took {elapsed:.2f}s from minion.cancel to runStatus cancelled")
        assert elapsed < 10, f"the cancel took {elapsed:.1f}s"
        reports = progress_of(client, run_id)
        assert reports[-1].kind == "end" and reports[-1].message.startswith("cancelled")

    # The work so far was committed on the worker, pushed and fetched.
    record = RunStore().get(run_id)
    assert record.status is Status.CANCELLED, (record.status, record.error)
    assert record.files == ["calc/ops.py"]
    assert "return a + b" in run_git(calc_repo, "show", f"{record.branch}:calc/ops.py")
    assert ran_on(run_id) == "lsp2"
    assert_unchanged(before, fingerprint(calc_repo))


async def test_an_unreachable_fleet_is_said_at_the_hand_off_and_nothing_is_created(calc_repo, tmp_path,
                                                                                  fleet_remote, monkeypatch):
    from support.net import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MINION_TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("MINION_FLEET_REMOTE", str(fleet_remote))
    before = fingerprint(calc_repo)
    async with session(calc_repo, "vscode", settings(write_script(tmp_path, [done()]), executor="temporal")) as (
            client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        with pytest.raises(JsonRpcInvalidParams, match=f"the Temporal server at {address}"):
            await run_command(client, handoff.command)
        [shown] = [m for m in client.messages if m.type == types.MessageType.Error]
        assert "cannot be reached" in shown.message and "minion fleet dev" in shown.message, shown.message
        assert recorder.run_status == []
    assert RunStore().recent(repo=calc_repo) == []  # no run, no snapshot, no worktree
    assert run_git(fleet_remote, "for-each-ref") == ""  # nothing went to the fleet
    assert_unchanged(before, fingerprint(calc_repo))


async def test_a_fleet_run_goes_on_when_the_editor_goes_away_and_the_next_server_brings_it_home(
        calc_repo, tmp_path, start_worker, fleet_env):
    start_worker("lsp3")
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, [[text("Fix it."), FIX_ADD], [bash("sleep 5")], done("add() now adds.")])
    async with session(calc_repo, "vscode", settings(model, executor="temporal")) as (client, recorder):
        _, started = await hand_off(client, calc_repo)
        run_id = started["runId"]
        await until(lambda: "running" in statuses(recorder, run_id), FLEET_TIMEOUT_S, "the run on the worker")
        client._server.kill()  # the editor crashed, and its server with it
    assert RunStore().get(run_id).status.active

    async with session(calc_repo, "vscode", settings(model, executor="temporal")) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        [change] = await until(lambda: minion_diagnostics(client, uri), FLEET_TIMEOUT_S, "the run's diagnostics")
        assert change.code == run_id and "add() now adds." in change.message
        await until(lambda: statuses(recorder, run_id)[-1:] == ["ok"], 10, "the run's end")
        [announced] = await until(lambda: recorder.message_requests, 10, "the end-of-run message")
        assert run_id in announced.message

    record = RunStore().get(run_id)
    assert record.status is Status.OK and record.files == ["calc/ops.py"], (record.status, record.error)
    assert run_git(calc_repo, "rev-parse", f"refs/heads/{record.branch}") == record.head
    assert ran_on(run_id) == "lsp3"
    assert_unchanged(before, fingerprint(calc_repo))


async def test_a_fleet_run_sent_back_from_the_editor_runs_its_next_round_on_the_fleet(
        calc_repo, tmp_path, start_worker, fleet_env):
    start_worker("lsp4")
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, "vscode", settings(model, executor="temporal")) as (client, recorder):
        _, first = await hand_off(client, calc_repo)

        def ended(run_id):
            return lambda: [s for s in recorder.run_status if s["id"] == run_id and s["ended"]]

        await until(ended(first["runId"]), FLEET_TIMEOUT_S, "the first round")
        write_script(tmp_path, [[text("Say what it does."), replace(
            "calc/ops.py", "def add(a, b):\n", 'def add(a, b):\n    """a + b"""\n')], done("documented")])
        second = await run_command(client, "minion.revise", {"runId": first["runId"], "feedback": "add a docstring"})
        assert second["branch"] == first["branch"] and second["status"] == "queued"
        await until(ended(second["runId"]), FLEET_TIMEOUT_S, "the second round")
        assert statuses(recorder, second["runId"])[-1] == "ok"

    rounds = [RunStore().get(first["runId"]), RunStore().get(second["runId"])]
    assert [r.fleet.worker if r.fleet else None for r in rounds] == ["lsp4", "lsp4"]
    assert rounds[1].revises == first["runId"] and rounds[1].worktree is None
    assert run_git(calc_repo, "rev-parse", f"{rounds[1].head}^") == rounds[0].head  # one commit per round
    final = run_git(calc_repo, "show", f"{first['branch']}:calc/ops.py")
    assert '"""a + b"""' in final and "return a + b" in final
    assert_unchanged(before, fingerprint(calc_repo))
