"""Caps and stuck detection: the run stops cleanly, says why, and keeps its work on the branch."""

import json
import time

import pytest

from minion import cli
from minion.agent.loop import IDLE_TURNS
from minion.agent.usage import Usage, price_per_mtok
from minion.engine.create import prepare_resume
from minion.engine.execute import execute_run
from minion.runs.model import Status
from support.claude import FIX_ADD, MODEL, on_branch
from support.fake_anthropic import Turn
from support.script import bash, text, tool

FIXED = "def add(a, b):\n    return a + b"
BIG_TURN = {"input_tokens": 100_000, "output_tokens": 100}  # $0.3015 at Sonnet prices


def view(last_line: int) -> dict:
    return tool("str_replace_based_edit_tool", command="view", path="calc/ops.py", view_range=[1, last_line])


async def test_turn_cap(api, run, repo):
    api.script([FIX_ADD], [view(1)], [view(2)], [text("Done.")])
    final, _ = await run(max_turns=2)
    assert final.status is Status.CAPPED_TURNS and "2 turns" in final.summary
    assert len(api.requests) == 2 and on_branch(repo, final) == FIXED


@pytest.mark.parametrize("prices, status, turns", [
    ({}, Status.CAPPED_COST, 1),  # a second turn would cost about $0.30 more: over $0.50
    ({"claude-sonnet-5-5": {"input": 0.5, "output": 2.0}}, Status.OK, 2),  # the config's own price table
])
async def test_cost_cap_stops_before_a_turn_that_would_cross_it(api, run, repo, prices, status, turns):
    api.script(Turn([FIX_ADD], usage=BIG_TURN), Turn([text("Done.")], usage=BIG_TURN))
    final, _ = await run(max_cost_usd=0.5, prices=prices)

    assert final.status is status, final.summary
    assert len(api.requests) == turns and on_branch(repo, final) == FIXED
    expected = Usage(100_000 * turns, 100 * turns).priced(price_per_mtok("claude-sonnet-5-5", prices))
    assert final.usage.cost_usd == round(expected.cost_usd, 6) <= 0.5
    if status is Status.CAPPED_COST:
        assert "cost cap of $0.50" in final.summary


async def test_input_token_cap(api, run, repo):
    api.script(Turn([FIX_ADD], usage=BIG_TURN), Turn([text("Done.")], usage=BIG_TURN))
    final, _ = await run(max_input_tokens=150_000)
    assert final.status is Status.CAPPED_TOKENS
    assert len(api.requests) == 1 and on_branch(repo, final) == FIXED


async def test_output_token_cap_narrows_each_turn_then_stops(api, run, repo):
    api.script(*[Turn([view(n)], usage={"output_tokens": 2000}) for n in (1, 2, 1)], [text("Done.")])
    final, _ = await run(max_output_tokens=5000)
    assert final.status is Status.CAPPED_TOKENS
    assert [r.body["max_tokens"] for r in api.requests] == [5000, 3000]


async def test_a_cap_crossed_by_a_surprise_stops_the_run_before_the_next_turn(api, run, repo):
    api.script(Turn([FIX_ADD], usage={"input_tokens": 10_000}), Turn([view(1)], usage={"input_tokens": 200_000}),
               [text("Done.")])
    final, _ = await run(max_input_tokens=150_000)
    assert final.status is Status.CAPPED_TOKENS
    assert len(api.requests) == 2 and final.usage.input_tokens == 210_000


async def test_wall_clock_cap_stops_a_busy_run_and_keeps_its_work(api, run, repo):
    api.script([FIX_ADD], [bash("sleep 30")], [text("Done.")])
    started = time.monotonic()
    final, _ = await run(max_wall_seconds=2)
    assert final.status is Status.CAPPED_TIME
    assert time.monotonic() - started < 10
    assert on_branch(repo, final) == FIXED


def test_cli_cap_flags(api, repo, capsys):
    api.script(Turn([FIX_ADD], usage=BIG_TURN), Turn([text("Done.")], usage=BIG_TURN))
    code = cli.main(["run", "--repo", str(repo), "--model", MODEL, "--max-tokens-in", "150000",
                     "--max-tokens-out", "9000", "--json", "make add() add"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["status"] == "capped_tokens"
    assert api.requests[0].body["max_tokens"] == 9000


async def test_the_same_call_with_the_same_result_three_times_is_stuck(api, run, repo):
    api.script([FIX_ADD], [view(2)], [view(2)], [view(2)], [text("Done.")])
    final, _ = await run()
    assert final.status is Status.STUCK and "3 times" in final.summary
    assert len(api.requests) == 4 and on_branch(repo, final) == FIXED


async def test_turns_that_only_read_are_stuck(api, run, repo):
    reads = [[tool("search", pattern=f"pattern{n}")] for n in range(IDLE_TURNS)]
    api.script([FIX_ADD], *reads, [text("Done.")])
    final, _ = await run()
    assert final.status is Status.STUCK and f"{IDLE_TURNS} turns" in final.summary
    assert len(api.requests) == 1 + IDLE_TURNS and on_branch(repo, final) == FIXED


async def test_a_resumed_run_keeps_counting_what_it_spent(api, run, repo):
    """Resuming with a higher cap continues from the money already spent, not from zero."""
    api.script(Turn([FIX_ADD], usage=BIG_TURN), Turn([view(1)], usage=BIG_TURN), Turn([text("Done.")], usage=BIG_TURN))
    capped, store = await run(max_cost_usd=0.5)
    assert capped.status is Status.CAPPED_COST
    spent = capped.usage.cost_usd
    assert spent == pytest.approx(0.3015, abs=1e-4)

    prepare_resume(capped.id, store, flags={"max_cost_usd": 0.7})
    final = await execute_run(capped.id, store)
    # $0.30 before the resume + one more turn = $0.60; a third would cross $0.70.
    assert final.status is Status.CAPPED_COST
    assert final.usage.cost_usd == pytest.approx(2 * 0.3015, abs=1e-4)
    assert final.turns == 2 and len(api.requests) == 2
