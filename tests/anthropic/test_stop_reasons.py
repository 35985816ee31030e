"""Every stop reason of the Messages API, end to end over HTTP."""

import json

from minion import cli
from minion.agent.conversation import CLEARED
from minion.agent.usage import Usage, price_per_mtok
from minion.runs.model import Status
from support.claude import FIX_ADD, events, on_branch
from support.fake_anthropic import Turn, prompt_too_long
from support.gitrepo import write_files
from support.script import bash, replace, text, tool

# A str_replace whose new_str is long: cut in half, its JSON still parses, without new_str,
# and running it would delete the old text.
LONG_EDIT = replace("calc/ops.py", "return a - b", "return a + b  # " + "x" * 300)
ORIGINAL = "def add(a, b):\n    return a - b"


def view(line: int) -> dict:
    return tool("str_replace_based_edit_tool", command="view", path="calc/ops.py", view_range=[1, line])


async def test_tool_use_then_end_turn_records_the_usage_the_server_reported(api, run, repo, capsys):
    first = {"input_tokens": 1200, "output_tokens": 80, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 0}
    second = {"input_tokens": 150, "output_tokens": 40, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 3000}
    api.script(Turn([text("The operator is wrong."), FIX_ADD], usage=first), Turn([text("add() adds now.")], usage=second))
    final, store = await run()

    assert final.status is Status.OK, final.summary
    assert on_branch(repo, final) == "def add(a, b):\n    return a + b"
    expected = Usage(1350, 120, 3200, 3000).priced(price_per_mtok("claude-sonnet-5-5")).to_dict()
    assert final.usage.to_dict() == expected and final.turns == 2
    [implement] = [n for n in store.nodes(final.id) if n.kind == "agent"]
    assert implement.usage.to_dict() == expected

    assert cli.main(["show", final.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["usage"] == {**expected, "turns": 2} and [n["usage"] for n in shown["nodes"] if n["kind"] == "agent"] == [expected]
    assert cli.main(["show", final.id]) == 0
    assert f"${expected['cost_usd']:.4f}" in capsys.readouterr().out


async def test_every_call_gets_a_result_and_errors_are_marked(api, run, repo):
    api.script([FIX_ADD, view(99), tool("no_such_tool")], [text("Done.")])
    final, _ = await run()
    assert final.status is Status.OK
    call_ids = [b["id"] for b in api.requests[1].body["messages"][-2]["content"] if b["type"] == "tool_use"]
    results = api.requests[1].body["messages"][-1]["content"]
    assert [r["tool_use_id"] for r in results] == call_ids
    assert [r.get("is_error", False) for r in results] == [False, True, True]


async def test_a_cut_off_call_never_runs_and_the_turn_is_asked_again_with_more_room(api, run, repo):
    api.script(Turn([text("Rewriting it."), LONG_EDIT], stop_reason="max_tokens", cut=True), [text("I give up.")])
    final, _ = await run(max_tokens=2000)

    assert final.status is Status.OK
    assert on_branch(repo, final) == ORIGINAL  # the cut str_replace would have deleted the line
    assert not events(final, "agent.tool")
    assert [r.body["max_tokens"] for r in api.requests] == [2000, 4000]
    assert api.requests[1].body["messages"] == [api.requests[0].body["messages"][0]]
    [cut] = events(final, "agent.cut_call")
    assert cut["retry_max_tokens"] == 4000


async def test_complete_calls_before_a_cut_one_run_and_the_model_is_told(api, run, repo):
    api.script(Turn([FIX_ADD, LONG_EDIT], stop_reason="max_tokens", cut=True), [text("Done.")])
    final, _ = await run()

    assert final.status is Status.OK
    assert on_branch(repo, final) == "def add(a, b):\n    return a + b"
    assert len(events(final, "agent.tool")) == 1
    assistant, user = api.requests[1].body["messages"][-2:]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]
    assert [b["type"] for b in user["content"]] == ["tool_result", "text"]
    assert "cut off" in user["content"][1]["text"]


async def test_a_text_cut_by_max_tokens_is_continued(api, run, repo):
    api.script(Turn([text("First half of the answer")], stop_reason="max_tokens"), [text("second half.")])
    final, _ = await run()
    assert final.status is Status.OK and final.summary == "second half."  # what the agent said last
    assistant, user = api.requests[1].body["messages"][-2:]
    assert assistant["content"] == [{"type": "text", "text": "First half of the answer"}]
    assert "Continue" in user["content"][-1]["text"]


async def test_pause_turn_is_sent_back_as_is(api, run, repo):
    api.script(Turn([text("Still working on it…")], stop_reason="pause_turn"), [FIX_ADD], [text("Done.")])
    final, _ = await run()
    assert final.status is Status.OK
    assert api.requests[1].body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Still working on it…"}]}
    # The continuation joins the paused message: one assistant message, then its tool results.
    assistant = api.requests[2].body["messages"][-2]
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use"]


async def test_a_refusal_runs_no_tool_and_ends_refused_with_the_work_committed(api, run, repo):
    api.script([FIX_ADD], Turn([text("I can't help with that."), bash("touch refused.txt")], stop_reason="refusal",
                               stop_details={"type": "refusal", "category": None, "explanation": None}))
    final, store = await run()
    assert final.status is Status.REFUSED
    assert "can't help" in final.summary
    assert [e["tool"] for e in events(final, "agent.tool")] == ["str_replace_based_edit_tool"]
    assert "return a + b" in on_branch(repo, final)
    assert [n.status for n in store.nodes(final.id) if n.kind == "agent"] == ["refused"]


def big_file(repo) -> None:
    """An untracked file (snapshots take those too) whose views make large tool results."""
    write_files(repo, {"notes.txt": "".join(f"note {n}: nothing much to see here, really\n" for n in range(300))})


def read_big(n: int) -> list[dict]:
    return [tool("str_replace_based_edit_tool", command="view", path="notes.txt", view_range=[1, 200 + n])]


def unmarked(messages: list[dict]) -> list[dict]:
    """Messages without their cache breakpoint, which moves to the latest turn each time."""
    return [{**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
            for m in messages]


async def test_exceeding_the_window_clears_old_tool_results_and_keeps_task_plan_and_recent_turns(api, run, repo):
    big_file(repo)
    api.script([text("Plan: read the notes, then fix."), FIX_ADD], *[read_big(n) for n in range(7)],
               Turn([text("Out of room")], stop_reason="model_context_window_exceeded"), [text("Done.")])
    final, _ = await run(task="make add() add (the task)")

    assert final.status is Status.OK, final.summary
    before, after = unmarked(api.requests[-2].body["messages"]), unmarked(api.requests[-1].body["messages"])
    assert after[0] == before[0] and after[0]["content"][0]["text"].startswith("Task:\nmake add() add (the task)")
    assert after[1:3] == before[1:3]  # the plan and its results
    assert after[-6:-2] == before[-4:]  # the recent turns, then the reply that ran out and the note
    old_results = [b["content"] for m in after[3:-6] for b in m["content"] if b["type"] == "tool_result"]
    assert len(old_results) == 5 and set(old_results) == {CLEARED}
    [compaction] = events(final, "agent.compact")
    assert compaction["cleared_results"] == 5 and compaction["dropped_turns"] == 0


async def test_nearing_the_window_compacts_before_the_next_turn(api, run, repo):
    big_file(repo)
    reads = [read_big(n) for n in range(8)]
    api.script([FIX_ADD], *reads[:-1], Turn(reads[-1], usage={"input_tokens": 9000}), [text("Done.")])
    final, _ = await run(context_window=10_000)

    assert final.status is Status.OK, final.summary
    [compaction] = events(final, "agent.compact")
    assert "near the context window" in compaction["reason"] and compaction["cleared_results"] > 0
    assert len(api.requests[-1].raw) < len(api.requests[-2].raw) / 2


async def test_a_prompt_too_long_is_compacted_and_asked_again(api, run, repo):
    big_file(repo)
    api.script([FIX_ADD], *[read_big(n) for n in range(8)], prompt_too_long(), [text("Done.")])
    final, _ = await run()

    assert final.status is Status.OK, final.summary
    assert len(api.requests[-1].raw) < len(api.requests[-2].raw) / 2
    assert "too long" in events(final, "agent.compact")[0]["reason"]


async def test_a_long_turn_reports_tokens_so_far_and_the_tool_being_written(api, run, repo):
    api.script([text("Thinking out loud. " * 100), FIX_ADD], [text("Done.")])
    final, _ = await run()
    progress = events(final, "agent.stream")
    tokens = [e["output_tokens"] for e in progress]
    assert len(progress) >= 3 and tokens == sorted(tokens) and tokens[-1] >= 400
    assert progress[-1]["tool"] == "str_replace_based_edit_tool" and progress[-1]["turn"] == 1
