"""What the editors' runs view, log panel and diff view read: `minion.runs` scoped to the
workspace, rows and runStatus with a bounded title, `minion.showRun`, `minion.runNodes`,
`minion.runLog` (polled with `next`), `minion.runFiles` and `minion.fileAt`, `minion.revise`
and `minion.discard` in their object form."""

import time
from pathlib import Path

import pytest
from pytest_lsp.client import LanguageClient

from minion.runs.model import RunRecord, Status
from minion.runs.store import RunStore
from support.gitrepo import make_repo, run_git
from support.script import done, replace, text, tool, write_script

from lsp_session import FILES, OPS, code_actions, open_file, run_command, session, settings, titled, until

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b"),
        tool("str_replace_based_edit_tool", command="create", path="calc/NOTES.md", file_text="add adds\n")],
       done("add() now adds.")]


async def command_error(client: LanguageClient, command: str, *arguments) -> str:
    with pytest.raises(Exception) as error:
        await run_command(client, command, *arguments)
    return str(error.value)


async def test_the_runs_view_reads_rows_nodes_log_files_and_both_sides(calc_repo, tmp_path):
    other = make_repo(tmp_path / "other", FILES)
    elsewhere = RunRecord("0ther0", time.time() - 5, time.time() - 5, Status.OK, str(other.resolve()),
                          "another repo's task", "default", "scripted:x")
    RunStore().create(elsewhere)
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, "vscode", settings(model)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        started = await run_command(client, titled(await code_actions(client, uri, 1), "Hand off TODO").command)
        run_id = started["runId"]
        await until(lambda: [s for s in recorder.run_status if s["id"] == run_id and s["status"] == "ok"],
                    what="the run to end")

        # runStatus: the repo, turns, elapsed, cost and a title of at most 60 characters.
        statuses = [s for s in recorder.run_status if s["id"] == run_id]
        assert all(s["repo"] == str(calc_repo.resolve()) and len(s["title"]) <= 60 for s in statuses)
        working = [s for s in statuses if s["node"] == "implement"]
        assert working and working[-1]["title"].startswith("implement · turn ")
        assert any(s["turns"] >= 1 for s in working) and statuses[-1]["max_turns"] == 60
        assert statuses[-1]["title"].startswith("ok · turn ") and statuses[-1]["node"] is None

        # minion.runs: the workspace's by default, every repo's with scope all.
        async def shown():  # the end is said first, then the result (its report) is loaded
            rows = await run_command(client, "minion.runs")
            return rows if rows and rows[0]["report_uri"] else None

        rows = await until(shown, what="the run's result to be shown")
        assert [r["id"] for r in rows] == [run_id]
        assert {r["id"] for r in await run_command(client, "minion.runs", {"scope": "all"})} == {run_id, "0ther0"}
        assert [r["id"] for r in await run_command(client, "minion.runs", {"scope": "workspace"})] == [run_id]
        row = rows[0]
        assert row["repo"] == str(calc_repo.resolve()) and row["node"] is None and row["revises"] is None
        assert row["turns"] >= 1 and row["max_turns"] == 60 and row["elapsed_s"] > 0
        assert row["title"].startswith("ok · turn ") and row["title"].endswith(f"· ${row['cost_usd']:.2f}")
        assert await run_command(client, "minion.showRun", {"runId": run_id[:6]}) == row

        nodes = await run_command(client, "minion.runNodes", {"runId": run_id})
        assert [n["seq"] for n in nodes] == sorted(n["seq"] for n in nodes)
        implement = next(n for n in nodes if n["name"] == "implement")
        assert implement["kind"] == "agent" and implement["status"] and implement["ended_at"] >= implement["started_at"]
        assert set(nodes[0]) == {"seq", "name", "kind", "status", "summary", "started_at", "ended_at"}

        log = await run_command(client, "minion.runLog", {"runId": run_id})
        texts = [line["text"] for line in log["lines"]]
        assert texts[0].startswith("run started") and texts[-1] == "run ended: ok"
        assert "implement…" in texts and any(t.startswith("implement: str_replace_based_edit_tool") for t in texts)
        assert all(isinstance(line["ts"], float) for line in log["lines"])
        assert await run_command(client, "minion.runLog", {"runId": run_id, "after": log["next"]}) == {
            "lines": [], "next": log["next"]}
        tail = await run_command(client, "minion.runLog", {"runId": run_id, "after": log["next"] - 1})
        assert [line["text"] for line in tail["lines"]] == ["run ended: ok"]

        files = await run_command(client, "minion.runFiles", {"runId": run_id})
        record = RunStore().get(run_id)
        assert (files["base"], files["head"]) == (record.base, record.head)
        # Each file's hunks say where they are on either side, with the index applyHunk takes.
        assert sorted(files["files"], key=lambda f: f["path"]) == [
            {"path": "calc/NOTES.md", "change": "added",
             "hunks": [{"index": 0, "base_start": 0, "base_count": 0, "head_start": 0, "head_count": 1}]},
            {"path": "calc/ops.py", "change": "modified",
             "hunks": [{"index": 1, "base_start": 2, "base_count": 1, "head_start": 2, "head_count": 1}]}]

        def side(path, which):
            return run_command(client, "minion.fileAt", {"runId": run_id, "path": path, "side": which})

        assert await side("calc/ops.py", "base") == {"text": OPS}
        assert await side("calc/ops.py", "head") == {"text": run_git(calc_repo, "show", f"{record.branch}:calc/ops.py")
                                                     + "\n"}
        assert await side("calc/NOTES.md", "base") == {"text": None}
        assert await side("calc/NOTES.md", "head") == {"text": "add adds\n"}
        assert "not a repo-relative path" in await command_error(
            client, "minion.fileAt", {"runId": run_id, "path": "../x", "side": "head"})
        assert "side" in await command_error(client, "minion.fileAt", {"runId": run_id, "path": "x", "side": "left"})
        assert "runId" in await command_error(client, "minion.runNodes", {})

        # Discard in its object form removes the worktree, and the branch when asked.
        assert record.worktree and Path(record.worktree).is_dir()
        assert await run_command(client, "minion.discard", {"runId": run_id, "deleteBranch": True}) == {
            "runId": run_id, "discarded": True, "branchDeleted": True, "worktreeRemoved": True}
        assert not run_git(calc_repo, "branch", "--list", record.branch)
        assert not Path(record.worktree).exists()
        assert record.worktree not in run_git(calc_repo, "worktree", "list")
        assert not run_git(calc_repo, "for-each-ref", record.snapshot_ref)


DOCSTRING = [[text("Say what it does."), replace("calc/ops.py", "def add(a, b):\n", 'def add(a, b):\n    """a + b"""\n')],
             done("add() says what it does.")]


async def test_revise_continues_the_runs_branch_with_the_feedback(calc_repo, tmp_path):
    model = write_script(tmp_path, FIX, "round.json")
    async with session(calc_repo, "neovim", settings(model)) as (client, recorder):
        assert "feedback is empty" in await command_error(client, "minion.revise", {"runId": "x", "feedback": " "})
        assert "no run with id" in await command_error(client, "minion.revise", {"runId": "nosuch", "feedback": "more"})
        uri = open_file(client, calc_repo / "calc/ops.py")
        first = await run_command(client, titled(await code_actions(client, uri, 1), "Hand off TODO").command)
        await until(lambda: [s for s in recorder.run_status if s["id"] == first["runId"] and s["ended"]],
                    what="the first round to end")
        base = RunStore().get(first["runId"]).base

        write_script(tmp_path, DOCSTRING, "round.json")  # the editor's model setting: the second round's script
        second = await run_command(client, "minion.revise", {"runId": first["runId"], "feedback": "add a docstring"})
        assert second["runId"] != first["runId"] and second["branch"] == first["branch"]
        await until(lambda: [s for s in recorder.run_status if s["id"] == second["runId"] and s["ended"]],
                    what="the second round to end")
        row = await run_command(client, "minion.showRun", {"runId": second["runId"]})
        assert row["revises"] == first["runId"] and row["status"] == "ok" and row["task"] == "add a docstring"
        assert run_git(calc_repo, "rev-list", "--count", f"{base}..{first['branch']}") == "2"
        final = run_git(calc_repo, "show", f"{first['branch']}:calc/ops.py")
        assert '"""a + b"""' in final and "return a + b" in final

        # Discarding a round with its branch takes every round's worktree and snapshot with it.
        rounds = [RunStore().get(first["runId"]), RunStore().get(second["runId"])]
        assert all(Path(r.worktree).is_dir() for r in rounds)
        assert await run_command(client, "minion.discard", {"runId": second["runId"], "deleteBranch": True}) == {
            "runId": second["runId"], "discarded": True, "branchDeleted": True, "worktreeRemoved": True}
        assert not run_git(calc_repo, "branch", "--list", first["branch"])
        for r in rounds:
            assert not Path(r.worktree).exists() and r.worktree not in run_git(calc_repo, "worktree", "list")
            assert not run_git(calc_repo, "for-each-ref", r.snapshot_ref)
