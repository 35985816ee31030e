"""The agent loop: ask the model, run the tools it calls, repeat until it is done or stopped.

What the loop does with each stop reason of the Messages API:
- ``tool_use``: runs every tool call; every tool_use id gets a tool_result (errors marked
  ``is_error``), even when the tool itself breaks.
- ``end_turn`` / ``stop_sequence``: the node is done.
- ``max_tokens`` / ``model_context_window_exceeded``: a trailing tool call may be cut off
  anywhere in its input (a ``new_str`` cut short still parses, and would delete code), so it
  is never run. When nothing else was called, the turn is asked again with twice the room,
  up to 4x ``max_tokens``; otherwise the model is told to continue, or to redo the call in
  smaller pieces. Exceeding the window also compacts the conversation.
- ``pause_turn``: the reply goes back as is, and the next reply continues it.
- ``refusal``: no tool runs; the node ends ``refused``.

Before every turn the caps are checked against an estimate of that turn, so a run stops
before a turn that would cross a cap; and when the last turn came near the context window,
the conversation is compacted first.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .conversation import add_assistant, add_user, compact, size, with_cache_breakpoint
from .models import STOP_REASONS, ContextTooLong, Model, ModelError, ModelReply, ModelRequest
from .prompt import CONTINUE, cut_call_note
from .tools import ToolResult, Tools
from .usage import Usage

Emit = Callable[..., Any]

STUCK_REPEATS = 3  # the same call with the same result this many times in a row
IDLE_TURNS = 12  # turns in a row that only read: no edit, no command that builds or tests
MIN_TURN_TOKENS = 1024  # a turn with less room to answer is not worth its input
MAX_ROOM_FACTOR = 4  # a cut-off tool call is retried with up to this many times max_tokens
COMPACT_AT = 0.8  # of the context window, as the last turn filled it
COMPACT_TO = 0.5
CHARS_PER_TOKEN = 4  # to estimate a request no turn has measured yet
TRUNCATING = ("max_tokens", "model_context_window_exceeded")


@dataclass
class RunBudget:
    """What all agent nodes of one run have used so far; caps apply to the run."""

    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    last_input: Usage = field(default_factory=Usage)  # the input side of the last turn, priced
    context_tokens: int = 0  # how full the context window was at the last turn


# How an agent loop ends. Each but "done" is also the status of the run it ends
# (runs.model.Status, which the agent does not import: it sits below the run).
CapStatus = Literal["capped_turns", "capped_time", "capped_tokens", "capped_cost"]
AgentStatus = Literal["done", "refused", "stuck", "failed", CapStatus]


@dataclass
class Caps:
    max_turns: int
    max_input_tokens: int
    max_output_tokens: int
    max_cost_usd: float
    deadline: float  # time.monotonic() value

    def room_for_turn(self, budget: RunBudget, wanted: int, next_input: Usage,
                      output_price: float) -> tuple[int, CapStatus | None]:
        """The output tokens the next turn may use, or 0 and the status of the cap it would cross.

        ``next_input`` is the next request's estimated input side, priced; ``output_price``
        is USD per output token.
        """
        used = budget.usage
        if budget.turns >= self.max_turns:
            return 0, "capped_turns"
        if time.monotonic() >= self.deadline:
            return 0, "capped_time"
        if used.total_input_tokens + next_input.total_input_tokens > self.max_input_tokens:
            return 0, "capped_tokens"
        output_room = self.max_output_tokens - used.output_tokens
        spare_usd = self.max_cost_usd - used.cost_usd - next_input.cost_usd
        cost_room = spare_usd / output_price if output_price > 0 else math.inf
        room = int(min(wanted, output_room, cost_room))
        if room < min(wanted, MIN_TURN_TOKENS):
            return 0, "capped_tokens" if output_room <= cost_room else "capped_cost"
        return room, None

    def describe(self, status: CapStatus) -> str:
        return {
            "capped_turns": f"the cap of {self.max_turns} turns is reached",
            "capped_time": "the wall-clock cap is reached",
            "capped_tokens": f"another turn would cross the token caps ({self.max_input_tokens} input, "
                             f"{self.max_output_tokens} output)",
            "capped_cost": f"another turn would cross the cost cap of ${self.max_cost_usd:.2f}",
        }[status]


@dataclass
class AgentOutcome:
    status: AgentStatus
    summary: str
    turns: int = 0
    edits: int = 0
    usage: Usage = field(default_factory=Usage)


class Finish(Exception):
    """Ends the node with a status and a summary."""

    def __init__(self, status: AgentStatus, summary: str):
        super().__init__(summary)
        self.status, self.summary = status, summary


async def run_agent(
    model: Model,
    toolset: Tools,
    *,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    prompt: str,
    caps: Caps,
    budget: RunBudget,
    price: Callable[[Usage], Usage],
    max_tokens: int,
    emit: Emit,
    resume: AgentOutcome | None = None,
    on_turn: Callable[[AgentOutcome], None] | None = None,
) -> AgentOutcome:
    """Continue the run's conversation (``messages``, mutated) with ``prompt``.

    ``resume``: what an earlier attempt of this node did, cut off after a turn; the
    conversation already holds its prompt and turns, and the loop goes on from there.
    ``on_turn`` is called after each turn the loop goes on from (the conversation then ends
    with the turn's tool results): a checkpoint there is a point to resume from."""
    loop = AgentLoop(model, toolset, system, messages, caps, budget, price, max_tokens, emit)
    return await loop.run(prompt, resume, on_turn)


class AgentLoop:
    def __init__(self, model: Model, toolset: Tools, system: list[dict[str, Any]], messages: list[dict[str, Any]],
                 caps: Caps, budget: RunBudget, price: Callable[[Usage], Usage], max_tokens: int, emit: Emit):
        self.model, self.toolset, self.system, self.messages = model, toolset, system, messages
        self.caps, self.budget, self.price, self.emit = caps, budget, price, emit
        self.tools = toolset.definitions()
        self.prefix_chars = len(json.dumps(system)) + len(json.dumps(self.tools))
        self.max_tokens = max_tokens
        self.room = max_tokens  # grows when a tool call was cut off by the output limit
        self.output_price = price(Usage(output_tokens=1_000_000)).cost_usd / 1_000_000
        self.outcome = AgentOutcome(status="done", summary="")
        self.watch = StuckWatch()

    async def run(self, prompt: str, resume: AgentOutcome | None = None,
                  on_turn: Callable[[AgentOutcome], None] | None = None) -> AgentOutcome:
        if resume is None:
            add_user(self.messages, [{"type": "text", "text": prompt}])
        else:
            self.outcome = AgentOutcome("done", "", resume.turns, resume.edits, resume.usage)
        try:
            while True:
                await self.turn()
                if on_turn is not None:
                    on_turn(self.outcome)
        except Finish as finish:
            self.outcome.status, self.outcome.summary = finish.status, finish.summary
        return self.outcome

    async def turn(self) -> None:
        if self.budget.context_tokens >= COMPACT_AT * self.model.context_window:
            self.shrink(self.budget.context_tokens, "the last turn came near the context window")
        max_tokens = self.room_or_stop()
        reply = await self.ask(max_tokens)
        if reply is None:
            return
        self.account(reply)
        await self.handle(reply, max_tokens)

    # before the turn: caps and context

    def room_or_stop(self) -> int:
        next_input = self.estimate_input(self.prefix_chars + size(self.messages))
        room, cap = self.caps.room_for_turn(self.budget, self.room, next_input, self.output_price)
        if cap:
            raise Finish(cap, f"stopped before turn {self.budget.turns + 1}: {self.caps.describe(cap)}")
        return room

    def estimate_input(self, request_chars: int) -> Usage:
        """The next request's input tokens and their cost: the last turn's, grown with the conversation."""
        last = self.budget.last_input
        tokens = max(last.total_input_tokens, request_chars // CHARS_PER_TOKEN)
        if last.total_input_tokens:
            return Usage(input_tokens=tokens, cost_usd=last.cost_usd * tokens / last.total_input_tokens)
        return self.price(Usage(cache_write_tokens=tokens))  # a first turn writes its prefix to the cache

    def shrink(self, current_tokens: int, reason: str) -> bool:
        """Shrink the conversation to about COMPACT_TO of the window; False if nothing could go."""
        total_chars = self.prefix_chars + size(self.messages)
        target = COMPACT_TO * self.model.context_window
        report = compact(self.messages, int(total_chars * max(0.0, 1 - target / max(current_tokens, 1))))
        removed = report.chars_before - report.chars_after
        self.budget.context_tokens = int(current_tokens * (1 - removed / total_chars))
        self.emit("agent.compact", reason=reason, **report.to_dict())
        return removed > 0

    # the turn

    def request(self, max_tokens: int) -> ModelRequest:
        return ModelRequest(system=self.system, tools=self.tools, messages=with_cache_breakpoint(self.messages),
                            max_tokens=max_tokens)

    async def ask(self, max_tokens: int) -> ModelReply | None:
        """The model's reply; None when the request did not fit and the conversation was compacted."""
        try:
            return await self.model.reply(self.request(max_tokens), self.listen)
        except ContextTooLong as e:
            if self.shrink(self.model.context_window, "the API found the prompt too long"):
                return None
            raise Finish("failed", f"{e}; there is nothing left to compact") from e
        except ModelError as e:
            raise Finish("failed", str(e)) from e

    def listen(self, kind: str, **data: Any) -> None:
        self.emit(f"agent.{kind}", turn=self.budget.turns + 1, **data)

    def account(self, reply: ModelReply) -> None:
        cost = self.price(reply.usage)
        self.outcome.usage.add(cost)
        self.budget.usage.add(cost)
        self.outcome.turns += 1
        self.budget.turns += 1
        self.budget.last_input = self.price(reply.usage.input_side())
        self.budget.context_tokens = reply.usage.total_input_tokens + reply.usage.output_tokens
        self.emit("agent.turn", turn=self.budget.turns, stop_reason=reply.stop_reason,
                  text=_text_of(reply.content)[:2000], usage=cost.to_dict())

    async def handle(self, reply: ModelReply, max_tokens: int) -> None:
        content, reason = reply.content, reply.stop_reason
        if reason == "refusal":
            add_assistant(self.messages, [b for b in content if b["type"] != "tool_use"])
            raise Finish("refused", _text_of(content) or "the model refused the task")
        if reason == "pause_turn":
            add_assistant(self.messages, content)
            return
        if reason not in STOP_REASONS:
            raise Finish("failed", f"the model stopped for a reason minion does not know: {reason!r}")
        notes = []
        if reason in TRUNCATING and content and content[-1]["type"] == "tool_use":
            cut, content = content[-1], content[:-1]
            more_room = reason == "max_tokens" and not _tool_uses(content) and self.grow_room(max_tokens)
            self.emit("agent.cut_call", tool=cut["name"], stop_reason=reason,
                      **({"retry_max_tokens": self.room} if more_room else {}))
            if more_room:
                return  # the cut reply is dropped and the turn asked again
            notes.append(cut_call_note(cut["name"]))
        if reason == "model_context_window_exceeded":
            self.budget.context_tokens = self.model.context_window  # compact before the next turn
        add_assistant(self.messages, content)
        calls = _tool_uses(content)
        if calls:
            await self.run_tools(calls, notes)
        elif reason in TRUNCATING:
            add_user(self.messages, [{"type": "text", "text": notes[0] if notes else CONTINUE}])
            self.check(self.watch.turn(progressed=False))
        else:
            raise Finish("done", _text_of(content))

    def grow_room(self, used: int) -> bool:
        ceiling = self.max_tokens * MAX_ROOM_FACTOR
        if used < self.room or used >= ceiling:
            return False  # a cap held the turn back, or the room is already at its ceiling
        self.room = min(used * 2, ceiling)
        return True

    # tools

    async def run_tools(self, calls: list[dict[str, Any]], notes: list[str]) -> None:
        blocks, verdicts, progressed = [], [], False
        for call in calls:
            result = await self.call_tool(call)
            self.outcome.edits += result.edited
            progressed |= result.progress
            verdicts.append(self.watch.call(call, result))
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call["id"], "content": result.content}
            if result.is_error:
                block["is_error"] = True
            blocks.append(block)
        add_user(self.messages, blocks + [{"type": "text", "text": note} for note in notes])
        for verdict in [*verdicts, self.watch.turn(progressed)]:
            self.check(verdict)

    async def call_tool(self, call: dict[str, Any]) -> ToolResult:
        self.emit("agent.tool", tool=call["name"], input=call["input"])
        try:
            result = await self.toolset.call(call["name"], call["input"])
        except Exception as e:  # a tool that breaks must still answer its call
            result = ToolResult(f"{call['name']} failed: {type(e).__name__}: {e}", is_error=True)
        self.emit("agent.tool_result", tool=call["name"], is_error=result.is_error, output=result.content[-2000:])
        return result

    @staticmethod
    def check(verdict: str | None) -> None:
        if verdict:
            raise Finish("stuck", verdict)


class StuckWatch:
    """Two signs of a loop that burns tokens: the same call with the same result several
    times in a row, and many turns in a row that only read."""

    def __init__(self) -> None:
        self.last: tuple[str, str, str] | None = None
        self.repeats = 0
        self.idle_turns = 0

    def call(self, call: dict[str, Any], result: ToolResult) -> str | None:
        key = (call["name"], json.dumps(call["input"], sort_keys=True), result.content)
        self.repeats = self.repeats + 1 if key == self.last else 1
        self.last = key
        if self.repeats >= STUCK_REPEATS:
            return f"stuck: the same {call['name']} call gave the same result {self.repeats} times in a row"
        return None

    def turn(self, progressed: bool) -> str | None:
        self.idle_turns = 0 if progressed else self.idle_turns + 1
        if self.idle_turns >= IDLE_TURNS:
            return f"stuck: {self.idle_turns} turns in a row without an edit or a command that builds or tests"
        return None


def _tool_uses(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in content if b["type"] == "tool_use"]


def _text_of(content: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"] for b in content if b["type"] == "text").strip()
