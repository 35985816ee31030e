"""MCP tools in real runs: a real server written with the SDK (support/mcp_server.py), over
stdio inside the sandbox and over streamable HTTP on loopback, driven by scripted models.

What a scripted agent cannot see (the scripted model does not read results) the run's event
log shows: each tool result (`agent.tool_result`) and each MCP call (`mcp.call`).
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.claude import events
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.net import free_port
from support.procs import processes_with
from support.mcp_config import SERVER, configure, stdio
from support.script import done, text, tool, write_script

from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.errors import ConfigError
from minion.mcp_servers import connection
from minion.runs.events import log_path
from minion.runs.model import RunRecord, Status
from minion.runs.store import RunStore
from minion.trust import trust_repo

PYTHON = sys.executable
TOKEN = "mcp-token-5f3a9c1e77d2"  # a secret the server's entry names: never in a result or the log


def run(repo: Path, tmp_path: Path, *turns, blueprint: str | None = None) -> RunRecord:
    model = write_script(tmp_path, [*turns, done("Done.")])
    store = RunStore()
    request = RunRequest(task="use the tools", repo=repo, model=model, blueprint=blueprint, flags={"checks": {}})
    record = create_run(request, store)
    return asyncio.run(execute_run(record.id, store))


def results(record: RunRecord) -> list[tuple[str, bool, str]]:
    """(tool, is_error, output) of every tool call of the run, in order."""
    return [(e["tool"], e["is_error"], e["output"]) for e in events(record, "agent.tool_result")]


def warnings(record: RunRecord) -> list[str]:
    return [e["message"] for e in events(record, "log") if e.get("level") == "warning"]


def test_a_stdio_server_runs_in_the_sandbox_and_only_allowed_tools_are_offered_or_run(repo, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("a file of the user's, outside the repository\n")
    listener = socket.create_server(("127.0.0.1", 0))  # the host's loopback: not reachable from inside
    configure({"t": stdio("echo", "read_path", "connect", "environment", env={"TOKEN": TOKEN})})
    final = run(repo, tmp_path,
                [text("Look around."), tool("mcp__t__echo", text="hi"),
                 tool("mcp__t__read_path", path=str(outside)), tool("mcp__t__read_path", path="calc/ops.py"),
                 tool("mcp__t__connect", host="127.0.0.1", port=listener.getsockname()[1]),
                 tool("mcp__t__environment", variable="TOKEN"),
                 tool("mcp__t__environment", variable="ANTHROPIC_API_KEY")],
                [text("And this?"), tool("mcp__t__crash"), tool("mcp__t__echo", text="still here")])
    listener.close()
    assert final.status is Status.OK, final.summary
    [start] = events(final, "mcp.start")
    assert start["server"] == "t" and start["where"] == "sandbox" and start["tools"] == 8
    outputs = results(final)
    assert outputs[0] == ("mcp__t__echo", False, "echo: hi")
    assert outputs[1][2].startswith(f"cannot read {outside}")  # outside the view
    assert "def add(a, b):" in outputs[2][2]  # the worktree is its cwd, at the repo's path
    assert outputs[3][2].startswith("cannot connect")  # the host's listener: a loopback of its own, no network
    assert outputs[4] == ("mcp__t__environment", False, "[REDACTED]")  # named in its entry: there, and redacted
    assert outputs[5][2] == "<unset>"
    # crash is the server's, but not allowed: an error that never reached it (it is still up).
    assert outputs[6][0] == "mcp__t__crash" and outputs[6][1] and "not allowed" in outputs[6][2]
    assert outputs[7] == ("mcp__t__echo", False, "echo: still here")
    calls = events(final, "mcp.call")
    assert [c["tool"] for c in calls] == ["echo", "read_path", "read_path", "connect", "environment", "environment",
                                          "echo"]
    assert all(c["duration_s"] >= 0 and c["result_chars"] > 0 for c in calls)
    assert TOKEN not in log_path(final.id).read_text()
    assert not processes_with(str(SERVER))  # stopped with the run: the server, its sandbox and launcher


def test_a_server_over_streamable_http_on_loopback(repo, tmp_path):
    port = free_port()
    server = subprocess.Popen([PYTHON, str(SERVER), "http", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        configure({"web": {"type": "http", "url": f"http://127.0.0.1:{port}/mcp", "tools": ["echo"],
                           "headers": {"Authorization": f"Bearer {TOKEN}"}}})
        final = run(repo, tmp_path, [tool("mcp__web__echo", text="over http")])
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert final.status is Status.OK, final.summary
    assert events(final, "mcp.start")[0]["where"] == f"http http://127.0.0.1:{port}/mcp"
    assert results(final) == [("mcp__web__echo", False, "echo: over http")]


def test_a_crashed_server_is_restarted_once_then_reported(repo, tmp_path):
    configure({"t": stdio("crash", "echo")})
    final = run(repo, tmp_path, [tool("mcp__t__crash")], [tool("mcp__t__echo", text="1")], [tool("mcp__t__crash")],
                [tool("mcp__t__echo", text="2")])
    assert final.status is Status.OK, final.summary
    outputs = results(final)
    assert outputs[0][1] and "went away during the call" in outputs[0][2] and "restarted" in outputs[0][2]
    assert outputs[1] == ("mcp__t__echo", False, "echo: 1")
    assert outputs[2][1] and "unavailable for the rest of the run" in outputs[2][2]
    assert outputs[3][1] and "not available" in outputs[3][2]
    assert any("restarted it" in w for w in warnings(final))
    assert not processes_with(str(SERVER))


def test_a_call_that_hangs_times_out_and_the_server_goes_on(repo, tmp_path):
    configure({"t": stdio("hang", "echo", timeout=2)})
    started = time.monotonic()
    final = run(repo, tmp_path, [tool("mcp__t__hang")], [tool("mcp__t__echo", text="after")])
    assert final.status is Status.OK, final.summary
    outputs = results(final)
    assert outputs[0][1] and "did not answer within 2 s" in outputs[0][2]
    assert outputs[1] == ("mcp__t__echo", False, "echo: after")
    assert time.monotonic() - started < 60


def test_a_five_megabyte_result_is_cut_to_head_and_tail(repo, tmp_path):
    configure({"t": stdio("big")})
    final = run(repo, tmp_path, [tool("mcp__t__big")])
    [call] = events(final, "mcp.call")
    assert call["result_chars"] < 40_000
    message = next(m for m in RunStore().nodes(final.id) if m.name == "implement").result["messages"]
    result = next(b for m in message if m["role"] == "user" for b in m["content"] if b["type"] == "tool_result")
    assert result["content"].startswith("line 0000000 ") and "bytes cut]" in result["content"]
    assert result["content"].rstrip().split("\n")[-1].startswith("line 0048499")


def test_a_server_that_never_answers_initialize_is_left_out_with_a_warning(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(connection, "START_SECONDS", 8.0)  # the other server starts meanwhile
    configure({"silent": stdio("echo", mode="hang-init"), "t": stdio("echo")})
    final = run(repo, tmp_path, [tool("mcp__silent__echo", text="x"), tool("mcp__t__echo", text="y")])
    assert final.status is Status.OK, final.summary
    assert any("'silent' did not answer within 8 s" in w for w in warnings(final))
    outputs = results(final)
    assert outputs[0][1] and "not allowed" in outputs[0][2]  # never offered
    assert outputs[1] == ("mcp__t__echo", False, "echo: y")


def test_a_repositorys_mcp_json_starts_nothing_until_trusted(repo, tmp_path):
    configure({})
    (repo / ".mcp.json").write_text(json.dumps({"mcpServers": {
        "repo": stdio("echo"),
        "phone-home": {"type": "http", "url": "http://127.0.0.1:9/mcp", "tools": ["*"]},
        "unboxed": stdio("echo", sandbox=False)}}))
    untrusted = run(repo, tmp_path, [tool("mcp__repo__echo", text="x")])
    assert not events(untrusted, "mcp.start")
    assert any(".mcp.json" in w and "not trusted" in w and "minion trust" in w for w in warnings(untrusted))
    assert results(untrusted)[0][1]

    trust_repo(repo)
    trusted = run(repo, tmp_path, [tool("mcp__repo__echo", text="x")])
    assert [(e["server"], e["where"]) for e in events(trusted, "mcp.start")] == [("repo", "sandbox")]
    assert results(trusted) == [("mcp__repo__echo", False, "echo: x")]
    left_out = warnings(trusted)
    assert any("'phone-home'" in w and "may not name URLs" in w for w in left_out)
    assert any("'unboxed'" in w and "outside the sandbox" in w for w in left_out)

    (repo / ".mcp.json").write_text((repo / ".mcp.json").read_text().replace("echo", "*"))  # one change: untrusted
    changed = run(repo, tmp_path, [tool("mcp__repo__echo", text="x")])
    assert not events(changed, "mcp.start")


def test_a_node_can_allow_tools_its_server_does_not(repo, tmp_path):
    (repo / ".minion" / "blueprints").mkdir(parents=True)
    (repo / ".minion" / "blueprints" / "lookup.py").write_text(
        "from minion.blueprint import Run, blueprint\n\n\n"
        "@blueprint('lookup', 'look something up, then implement')\n"
        "async def lookup(run: Run) -> None:\n"
        "    await run.gather_context()\n"
        "    await run.agent('look', 'look it up', tools=['mcp__t__echo'])\n"
        "    await run.agent('implement', run.task_prompt())\n"
        "    await run.commit()\n")
    trust_repo(repo)
    configure({"t": stdio()})  # the entry allows nothing
    final = run(repo, tmp_path, [tool("mcp__t__echo", text="in look")], done("Looked."),
                [tool("mcp__t__echo", text="in implement")], blueprint="lookup")
    assert final.status is Status.OK, final.summary
    outputs = results(final)
    assert outputs[0] == ("mcp__t__echo", False, "echo: in look")
    assert outputs[1][1] and "not allowed" in outputs[1][2]


def test_a_broken_mcp_json_fails_the_run_at_once_and_names_the_file(repo, tmp_path):
    configure({})
    (Path(os.environ["XDG_CONFIG_HOME"]) / "minion" / "mcp.json").write_text("{not json")
    with pytest.raises(ConfigError, match="mcp.json is not valid JSON"):
        create_run(RunRequest(task="t", repo=repo, model=write_script(tmp_path, [done()])), RunStore())


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the HTTP server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the HTTP server did not listen on {port}")


def minion(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "minion.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def test_mcp_list_and_call_by_hand_run_the_server_as_a_run_would_and_touch_nothing(repo, tmp_path):
    configure({"t": stdio("echo"), "broken": {"command": "/nonexistent/server"}})
    (repo / "calc" / "ops.py").write_text((repo / "calc" / "ops.py").read_text() + "# unsaved work\n")
    before = fingerprint(repo)
    listed = minion("mcp", "list", cwd=repo)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("t  sandbox  from ") and lines[0].endswith("mcp.json")
    assert any(line.split()[:2] == ["allowed", "mcp__t__echo"] for line in lines)
    assert any(line.split()[:2] == ["-", "mcp__t__crash"] for line in lines)
    assert any("'broken' did not start" in line for line in lines)
    assert any("/nonexistent/server" in line and "No such file" in line for line in lines)  # its stderr

    called = minion("mcp", "call", "t", "read_path", '{"path": "calc/ops.py"}', cwd=repo)
    assert called.returncode == 0, called.stderr
    assert "# unsaved work" in called.stdout  # the snapshot's scratch checkout: the user's state, not their files
    refused = minion("mcp", "call", "t", "nosuch", cwd=repo)
    assert refused.returncode != 0 and "has no tool 'nosuch'; it has: echo, read_path" in refused.stderr
    assert "not JSON" in minion("mcp", "call", "t", "echo", "{x", cwd=repo).stderr
    assert_unchanged(before, fingerprint(repo))
    assert len(run_git(repo, "worktree", "list").splitlines()) == 1  # the scratch checkouts are gone
