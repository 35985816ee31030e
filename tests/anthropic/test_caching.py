"""Prompt caching, judged on the bytes the server received."""

from minion.runs.model import Status
from support.claude import FIX_ADD
from support.fake_anthropic import Received
from support.gitrepo import write_files
from support.mcp_config import configure, stdio
from support.script import text, tool


def breakpoints(request: Received) -> list[str]:
    """Where the request's cache_control markers sit."""
    body = request.body
    found = [f"system[{i}]" for i, b in enumerate(body["system"]) if "cache_control" in b]
    for m, message in enumerate(body["messages"]):
        found += [f"messages[{m}][{i}]" for i, b in enumerate(message["content"]) if "cache_control" in b]
    return found


def unmarked(messages: list[dict]) -> list[dict]:
    return [{**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
            for m in messages]


async def test_the_cached_prefix_is_byte_identical_across_all_turns_and_nodes(api, run, repo):
    write_files(repo, {"AGENTS.md": "Keep functions small.\n"})
    # implement (no fix), the check fails, repair fixes it: two agent nodes, three turns.
    api.script([text("Looked; nothing to do.")], [text("Let me fix it."), FIX_ADD], [text("Fixed.")])
    # The check fails on the snapshot too: judged without the baseline, so the repair runs.
    final, _ = await run(checks={"fixed": "grep -q 'a + b' calc/ops.py"}, baseline=False)
    assert final.status is Status.OK, final.summary
    assert len(api.requests) == 3

    prefixes = {(spans["tools"], spans["system"]) for spans in (r.spans() for r in api.requests)}
    assert len(prefixes) == 1
    [(tools, system)] = prefixes
    for volatile in (final.id, final.worktree, final.branch, str(final.worktree).rsplit("/", 2)[0]):
        assert volatile.encode() not in tools + system
    assert b"Keep functions small." in system

    for request in api.requests:
        last_user = max(i for i, m in enumerate(request.body["messages"]) if m["role"] == "user")
        last_block = len(request.body["messages"][last_user]["content"]) - 1
        # instructions + rules; the repo map; the latest turn: three of the API's four.
        assert breakpoints(request) == ["system[1]", "system[2]", f"messages[{last_user}][{last_block}]"]

    # The conversation only grows, so each request starts with the whole previous one.
    for earlier, later in zip(api.requests, api.requests[1:]):
        previous = unmarked(earlier.body["messages"])
        assert unmarked(later.body["messages"])[: len(previous)] == previous


async def test_with_mcp_tools_the_prefix_stays_byte_identical_while_the_server_changes_its_list(api, run, repo):
    configure({"t": stdio("echo", "shuffle")})
    # The server drops echo and adds a tool mid-run; the offered list is the run's, as listed first.
    api.script([text("Shuffle."), tool("mcp__t__shuffle")], [text("Echo."), tool("mcp__t__echo", text="x")],
               [text("Done.")])
    final, _ = await run()
    assert final.status is Status.OK, final.summary
    assert len(api.requests) == 3
    assert len({(r.spans()["tools"], r.spans()["system"]) for r in api.requests}) == 1
    names = [t["name"] for t in api.requests[0].body["tools"]]
    assert names == ["str_replace_based_edit_tool", "bash", "search", "outline", "mcp__t__echo", "mcp__t__shuffle"]
    echo = api.requests[0].body["tools"][4]
    assert echo["description"] == "Say the text back." and echo["input_schema"]["required"] == ["text"]
    # What the second call got: the server had dropped echo, and said so.
    result = api.requests[2].body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result.get("is_error"), result
