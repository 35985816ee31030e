"""An agent loop cut off after a turn goes on from that turn (what a fleet worker that takes
over a run does with the conversation its checkpoint holds): the prompt is not sent again,
no earlier turn is asked again, and the node's turns and edits count on from where it was."""

import asyncio
import copy
import time
from typing import Any

from minion.agent.loop import AgentOutcome, Caps, RunBudget, run_agent
from minion.agent.models import ModelReply, ModelRequest
from minion.agent.tools import ToolResult
from minion.agent.usage import Usage


class Replies:
    """A model that answers with the given turns and keeps every request it was sent."""

    name = "replies"
    context_window = 200_000

    def __init__(self, turns: list[list[dict[str, Any]]]):
        self.turns, self.requests = list(turns), []

    async def reply(self, request: ModelRequest, listener) -> ModelReply:
        self.requests.append(copy.deepcopy(request.messages))
        content = self.turns.pop(0)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        return ModelReply(content=content, stop_reason=stop, usage=Usage(input_tokens=10, output_tokens=5))


class Editor:
    """A tool that records its calls; each counts as an edit."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def definitions(self) -> list[dict[str, Any]]:
        return [{"name": "edit", "input_schema": {"type": "object"}}]

    async def call(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        self.calls.append(tool_input)
        return ToolResult(f"edited {tool_input['n']}", edited=True)


def edit(n: int) -> list[dict[str, Any]]:
    return [{"type": "tool_use", "id": f"toolu_{n}", "name": "edit", "input": {"n": n}}]


class CutOff(Exception):
    """The worker died after a turn."""


def agent(model, tools, messages, budget, **kwargs) -> AgentOutcome:
    caps = Caps(max_turns=50, max_input_tokens=10**9, max_output_tokens=10**9, max_cost_usd=100.0,
                deadline=time.monotonic() + 60)
    return asyncio.run(run_agent(model, tools, system=[], messages=messages, prompt="Fix it.", caps=caps,
                                 budget=budget, price=lambda usage: usage, max_tokens=4096,
                                 emit=lambda *a, **k: None, **kwargs))


def test_a_loop_resumed_after_a_turn_goes_on_from_that_turn():
    turns = [edit(1), edit(2), [{"type": "text", "text": "done"}]]
    saved: list[tuple[AgentOutcome, list]] = []

    def save_then_die(outcome: AgentOutcome) -> None:
        saved.append((copy.deepcopy(outcome), copy.deepcopy(messages)))
        if len(saved) == 2:
            raise CutOff

    messages: list[dict[str, Any]] = []
    first_model, first_tools = Replies(turns), Editor()
    try:
        agent(first_model, first_tools, messages, RunBudget(), on_turn=save_then_die)
    except CutOff:
        pass
    else:
        raise AssertionError("the first attempt was not cut off")
    (outcome, conversation), _ = saved  # the checkpoint after turn 1; the cut-off turn 2 is lost

    second_model, second_tools = Replies(turns[1:]), Editor()
    resumed = agent(second_model, second_tools, conversation, RunBudget(turns=1), resume=outcome)

    assert resumed.status == "done" and resumed.summary == "done"
    assert (resumed.turns, resumed.edits) == (3, 2)  # counted on from the checkpoint's 1 turn, 1 edit
    assert resumed.usage.output_tokens == 15
    assert second_tools.calls == [{"n": 2}]  # turn 1's edit is not made again
    first_request = second_model.requests[0]
    assert first_request == first_model.requests[1]  # the same request as the lost attempt's turn 2
    prompts = [m for m in first_request if m["role"] == "user" and m["content"][0].get("text") == "Fix it."]
    assert len(prompts) == 1


def test_a_loop_is_given_a_point_to_resume_from_after_each_turn_but_its_last():
    seen: list[int] = []
    messages: list[dict[str, Any]] = []
    outcome = agent(Replies([edit(1), edit(2), [{"type": "text", "text": "done"}]]), Editor(), messages,
                    RunBudget(), on_turn=lambda o: seen.append(o.turns))
    assert outcome.turns == 3
    assert seen == [1, 2]  # the last turn ends the node: its end is the checkpoint
