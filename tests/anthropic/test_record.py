"""`--record` turns a run over the real client into a script that replays to the same branch."""

import json

from minion.runs.model import Status
from support.claude import events, on_branch
from support.fake_anthropic import Turn
from support.gitrepo import make_repo, run_git
from support.mcp_config import configure, stdio
from support.script import bash, replace, text, tool


async def test_record_then_replay_gives_the_same_branch(api, run, repo, tmp_path):
    ops = str(repo / "calc" / "ops.py")  # absolute, as Claude writes paths
    api.script(
        Turn([text("Looking first.")], stop_reason="pause_turn"),
        [tool("str_replace_based_edit_tool", command="view", path=ops)],
        Turn([replace(ops, "return a - b", "return a + b  # " + "x" * 300)], stop_reason="max_tokens", cut=True),
        [replace(ops, "return a - b", "return a + b")],
        [tool("str_replace_based_edit_tool", command="create", path=str(repo / "NOTES.md"), file_text="fixed\n"),
         bash("true")],
        [text("Done: add() adds.")],
    )
    recording = tmp_path / "recorded.json"
    recorded, _ = await run(record_to=recording)
    assert recorded.status is Status.OK, recorded.summary

    turns = json.loads(recording.read_text())
    assert len(turns) == len(api.requests) == 6
    assert turns[0]["stop_reason"] == "pause_turn" and turns[2]["stop_reason"] == "max_tokens"
    assert turns[3][0]["input"]["path"] == "calc/ops.py"  # replays on any checkout

    elsewhere = make_repo(tmp_path / "another checkout")
    replayed, _ = await run(repo=elsewhere, model=f"scripted:{recording}")
    assert replayed.status is Status.OK, replayed.summary
    assert run_git(elsewhere, "rev-parse", f"{replayed.branch}^{{tree}}") == run_git(repo, "rev-parse", f"{recorded.branch}^{{tree}}")
    assert on_branch(elsewhere, replayed) == on_branch(repo, recorded) == "def add(a, b):\n    return a + b"
    assert len(events(replayed, "agent.cut_call")) == 1


async def test_a_recorded_run_with_mcp_tools_replays_offline_with_the_same_calls(api, run, repo, tmp_path):
    configure({"t": stdio("echo", "read_path")})
    api.script([tool("mcp__t__read_path", path="calc/ops.py"), tool("mcp__t__echo", text="seen")],
               [replace(str(repo / "calc" / "ops.py"), "return a - b", "return a + b")], [text("Done.")])
    recording = tmp_path / "recorded.json"
    recorded, _ = await run(record_to=recording)
    assert recorded.status is Status.OK, recorded.summary
    assert [t["name"] for t in json.loads(recording.read_text())[0]] == ["mcp__t__read_path", "mcp__t__echo"]

    replayed, _ = await run(model=f"scripted:{recording}")  # no API: the script and the real server
    assert replayed.status is Status.OK, replayed.summary
    calls = [[(e["tool"], e["is_error"], e["output"]) for e in events(record, "agent.tool_result")][:2]
             for record in (recorded, replayed)]
    assert calls[0] == calls[1] and calls[0][1] == ("mcp__t__echo", False, "echo: seen")
    assert "def add(a, b):" in calls[0][0][2]
    assert on_branch(repo, replayed) == on_branch(repo, recorded)
