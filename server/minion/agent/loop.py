"""The agent loop: ask the model, run the tools it calls, repeat until it is done or capped."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .models import Model, ModelError, ModelRequest
from .tools import Toolset
from .usage import Usage

Emit = Callable[..., Any]

STUCK_REPEATS = 3  # the same call with the same result this many times in a row
IDLE_TURNS = 12  # turns in a row without an edit


@dataclass
class Caps:
    max_turns: int
    max_input_tokens: int
    max_output_tokens: int
    max_cost_usd: float
    deadline: float  # time.monotonic() value

    def crossed(self, turns: int, usage: Usage) -> str | None:
        """The status for the first cap crossed, if any. Usage and turns are run totals."""
        if turns >= self.max_turns:
            return "capped_turns"
        if usage.total_input_tokens >= self.max_input_tokens or usage.output_tokens >= self.max_output_tokens:
            return "capped_tokens"
        if usage.cost_usd >= self.max_cost_usd:
            return "capped_cost"
        if time.monotonic() >= self.deadline:
            return "capped_time"
        return None


@dataclass
class AgentOutcome:
    status: str  # done | refused | stuck | failed | capped_*
    summary: str
    turns: int = 0
    edits: int = 0
    usage: Usage = field(default_factory=Usage)


@dataclass
class RunBudget:
    """What all agent nodes of one run have used so far; caps apply to the run."""

    turns: int = 0
    usage: Usage = field(default_factory=Usage)


def _text_of(content: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"] for b in content if b["type"] == "text").strip()


async def run_agent(
    model: Model,
    toolset: Toolset,
    *,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    prompt: str,
    caps: Caps,
    budget: RunBudget,
    price: Callable[[Usage], Usage],
    max_tokens: int,
    emit: Emit,
) -> AgentOutcome:
    """Continue the run's conversation (``messages``, mutated) with ``prompt``."""
    messages.append({"role": "user", "content": [{"type": "text", "text": prompt}]})
    outcome = AgentOutcome(status="done", summary="")
    last_call: tuple[str, str] | None = None
    repeats = 0
    idle = 0

    def finish(status: str, summary: str) -> AgentOutcome:
        outcome.status, outcome.summary = status, summary
        return outcome

    while True:
        capped = caps.crossed(budget.turns, budget.usage)
        if capped:
            return finish(capped, f"stopped: {capped.replace('_', ' ')} reached")
        request = ModelRequest(system=system, tools=toolset.definitions(), messages=messages, max_tokens=max_tokens)
        try:
            reply = await model.reply(request, lambda info: emit("agent.stream", **info))
        except ModelError as e:
            return finish("failed", str(e))
        cost = price(reply.usage)
        outcome.usage.add(cost)
        budget.usage.add(cost)
        outcome.turns += 1
        budget.turns += 1
        text = _text_of(reply.content)
        emit("agent.turn", turn=budget.turns, stop_reason=reply.stop_reason, text=text[:2000], usage=cost.to_dict())
        messages.append({"role": "assistant", "content": reply.content})

        if reply.stop_reason == "refusal":
            return finish("refused", text or "the model refused the task")
        if reply.stop_reason == "pause_turn":
            continue
        tool_uses = [b for b in reply.content if b["type"] == "tool_use"]
        if reply.stop_reason == "max_tokens" and tool_uses:
            # The last tool call may be cut off mid-input: never run it.
            messages[-1] = {"role": "assistant", "content": [b for b in reply.content if b is not tool_uses[-1]] or [{"type": "text", "text": "…"}]}
            tool_uses = tool_uses[:-1]
            if not tool_uses:
                messages.append({"role": "user", "content": [{"type": "text", "text": "Your last tool call was cut off by the output limit. Make it again, smaller."}]})
                continue
        if not tool_uses:
            if reply.stop_reason == "max_tokens":
                messages.append({"role": "user", "content": [{"type": "text", "text": "Continue."}]})
                continue
            return finish("done", text)

        results = []
        for call in tool_uses:
            emit("agent.tool", tool=call["name"], input=call["input"])
            result = await toolset.call(call["name"], call["input"])
            emit("agent.tool_result", tool=call["name"], is_error=result.is_error, output=result.content[-2000:])
            outcome.edits += result.edited
            idle = 0 if result.edited else idle + 1
            key = (json.dumps([call["name"], call["input"]], sort_keys=True), result.content)
            repeats = repeats + 1 if key == last_call else 1
            last_call = key
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call["id"], "content": result.content}
            if result.is_error:
                block["is_error"] = True
            results.append(block)
        messages.append({"role": "user", "content": results})
        if repeats >= STUCK_REPEATS:
            return finish("stuck", f"stuck: the same {tool_uses[-1]['name']} call gave the same result {repeats} times")
        if idle >= IDLE_TURNS:
            return finish("stuck", f"stuck: {idle} tool calls in a row without a change")
