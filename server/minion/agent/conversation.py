"""The run's conversation: the message list that every agent node of a run continues.

It keeps a shape the API accepts at every moment: roles alternate, starting with the user;
every tool_use has its tool_result in the next user message; no message is empty. Compaction
relies on that shape: an assistant message and the user message after it can go together.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

Message = dict[str, Any]
Block = dict[str, Any]

KEEP_HEAD = 3  # the task, the first answer (usually the plan) and its tool results
KEEP_RECENT = 6  # the last three exchanges stay whole
BIG_INPUT_CHARS = 400  # in old turns, longer string inputs of tool calls are cleared too
NOTE_MAX_CHARS = 4000
CLEARED = "[cleared to save context: run the tool again if you need this]"
NOTE_HEAD = "Earlier turns were removed to fit the context window. What you wrote in them:"


def add_user(messages: list[Message], blocks: list[Block]) -> None:
    """Add blocks for the user's side; they join the last message when it is the user's."""
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": [*messages[-1]["content"], *blocks]}
    else:
        messages.append({"role": "user", "content": list(blocks)})


def add_assistant(messages: list[Message], content: list[Block]) -> None:
    """Add the model's reply. After a pause_turn the paused message is the last one, sent back
    as is, and the reply continues it."""
    if not content:
        return
    if messages and messages[-1]["role"] == "assistant":
        messages[-1] = {"role": "assistant", "content": [*messages[-1]["content"], *content]}
    else:
        messages.append({"role": "assistant", "content": list(content)})


def with_cache_breakpoint(messages: list[Message]) -> list[Message]:
    """The messages to send, with a cache breakpoint on the latest user message: the next turn
    then reads everything up to it from the cache. The stored messages stay unmarked, so that
    old breakpoints never pile up past the API's limit of four."""
    marked = list(messages)
    for i in range(len(marked) - 1, -1, -1):
        if marked[i]["role"] == "user":
            content = list(marked[i]["content"])
            content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
            marked[i] = {**marked[i], "content": content}
            break
    return marked


def size(messages: list[Message]) -> int:
    return len(json.dumps(messages, ensure_ascii=False))


@dataclass
class Compaction:
    chars_before: int
    chars_after: int = 0
    cleared_results: int = 0
    cleared_inputs: int = 0
    dropped_turns: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def compact(messages: list[Message], remove_chars: int) -> Compaction:
    """Shrink the conversation in place, by ``remove_chars`` characters if it can.

    First the results (and large inputs) of old tool calls are cleared; if that is not
    enough, old exchanges go whole, oldest first, and what the model wrote in them is kept
    as a note on the task. The task, the first answer and the recent exchanges stay.
    """
    report = Compaction(chars_before=size(messages))
    old_end = len(messages) - KEEP_RECENT
    for i in range(KEEP_HEAD, old_end):
        if messages[i]["role"] == "user":
            messages[i], cleared = _clear_results(messages[i])
            report.cleared_results += cleared
        else:
            messages[i], cleared = _clear_inputs(messages[i])
            report.cleared_inputs += cleared
    if report.chars_before - size(messages) < remove_chars:
        _drop_old_exchanges(messages, report, remove_chars)
    report.chars_after = size(messages)
    return report


def _clear_results(message: Message) -> tuple[Message, int]:
    content, cleared = [], 0
    for block in message["content"]:
        if block["type"] == "tool_result" and block.get("content") != CLEARED:
            block = {**block, "content": CLEARED}
            cleared += 1
        content.append(block)
    return {**message, "content": content}, cleared


def _clear_inputs(message: Message) -> tuple[Message, int]:
    content, cleared = [], 0
    for block in message["content"]:
        if block["type"] == "tool_use":
            big = {k for k, v in block["input"].items() if isinstance(v, str) and len(v) > BIG_INPUT_CHARS}
            if big:
                tool_input = {k: f"[{len(v)} characters, cleared to save context]" if k in big else v
                              for k, v in block["input"].items()}
                block = {**block, "input": tool_input}
                cleared += 1
        content.append(block)
    return {**message, "content": content}, cleared


def _drop_old_exchanges(messages: list[Message], report: Compaction, remove_chars: int) -> None:
    """Drop (assistant, tool results) pairs between the head and the recent turns."""
    said: list[str] = []
    i = KEEP_HEAD
    while i + 1 < len(messages) - KEEP_RECENT and report.chars_before - size(messages) < remove_chars:
        assistant, results = messages[i], messages[i + 1]
        if assistant["role"] != "assistant" or not any(b["type"] == "tool_result" for b in results["content"]):
            i += 1  # a node's prompt, or out of step: keep it
            continue
        said += [b["text"].strip()[:300] for b in assistant["content"] if b["type"] == "text" and b["text"].strip()]
        del messages[i:i + 2]
        report.dropped_turns += 1
    if said:
        _note_on_task(messages, said)


def _note_on_task(messages: list[Message], said: list[str]) -> None:
    task = messages[0]
    earlier = [b for b in task["content"] if b["type"] == "text" and b["text"].startswith(NOTE_HEAD)]
    lines = earlier[0]["text"].splitlines()[1:] if earlier else []
    lines += [f"- {' '.join(text.split())}" for text in said]
    while len("\n".join(lines)) > NOTE_MAX_CHARS and len(lines) > 1:
        lines.pop(0)
    note = {"type": "text", "text": "\n".join([NOTE_HEAD, *lines])}
    kept = [b for b in task["content"] if not (b["type"] == "text" and b["text"].startswith(NOTE_HEAD))]
    messages[0] = {**task, "content": [*kept, note]}
