"""Models the agent loop can talk to: Claude through the `anthropic` SDK, or a script.

A model takes a request in the Messages API's own form and returns the assistant's content
blocks (as plain dicts), the stop reason and the token usage.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..config import Settings
from ..errors import ConfigError, MinionError
from .usage import Usage

StreamListener = Callable[[dict[str, Any]], None]


@dataclass
class ModelRequest:
    system: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    max_tokens: int


@dataclass
class ModelReply:
    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)


class ModelError(Exception):
    """The model could not answer (endpoint down, script exhausted…); the node fails."""


class Model(Protocol):
    name: str

    async def reply(self, request: ModelRequest, on_stream: StreamListener) -> ModelReply: ...


class ScriptedModel:
    """Replays a file of assistant turns, in order, across all agent nodes of a run."""

    def __init__(self, path: Path):
        self.path = path
        self.name = f"scripted:{path.name}"
        self.turns = load_script(path)
        self.position = 0

    async def reply(self, request: ModelRequest, on_stream: StreamListener) -> ModelReply:
        if self.position >= len(self.turns):
            raise ModelError(
                f"the scripted model has no more turns: all {len(self.turns)} turns of "
                f"{self.path} were used"
            )
        content = self.turns[self.position]
        self.position += 1
        has_tool_use = any(block["type"] == "tool_use" for block in content)
        return ModelReply(content=content, stop_reason="tool_use" if has_tool_use else "end_turn")


def load_script(path: Path) -> list[list[dict[str, Any]]]:
    """Read and validate a scripted-model file; errors name the file and the turn."""
    try:
        turns = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scripted model file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(turns, list):
        raise ConfigError(f"{path}: expected a JSON array of turns, got {type(turns).__name__}")
    for t, turn in enumerate(turns):
        if not isinstance(turn, list):
            raise ConfigError(f"{path}: turn {t} must be an array of content blocks")
        for b, block in enumerate(turn):
            where = f"{path}: turn {t}, block {b}"
            if not isinstance(block, dict) or block.get("type") not in ("text", "tool_use"):
                raise ConfigError(f"{where}: each block needs \"type\": \"text\" or \"tool_use\"")
            if block["type"] == "text" and not isinstance(block.get("text"), str):
                raise ConfigError(f"{where}: a text block needs a string \"text\"")
            if block["type"] == "tool_use":
                if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
                    raise ConfigError(f"{where}: a tool_use block needs \"name\" and an object \"input\"")
                block.setdefault("id", f"toolu_scripted_{t}_{b}")
    return turns


class RecordingModel:
    """Wraps a model and writes every reply to a scripted-model file as the run goes."""

    def __init__(self, inner: Model, path: Path):
        self.inner = inner
        self.name = inner.name
        self.path = path
        self.turns: list[list[dict[str, Any]]] = []

    async def reply(self, request: ModelRequest, on_stream: StreamListener) -> ModelReply:
        reply = await self.inner.reply(request, on_stream)
        self.turns.append([_scriptable(block) for block in reply.content if block["type"] in ("text", "tool_use")])
        self.path.write_text(json.dumps(self.turns, indent=2, ensure_ascii=False) + "\n")
        return reply


def _scriptable(block: dict[str, Any]) -> dict[str, Any]:
    keep = ("type", "text") if block["type"] == "text" else ("type", "id", "name", "input")
    return {k: block[k] for k in keep if k in block}


class AnthropicModel:
    """Claude through the official SDK, streamed (long turns stay alive and show progress)."""

    def __init__(self, model_id: str, settings: Settings):
        import anthropic

        if not os.environ.get("ANTHROPIC_API_KEY") and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set. Set it to use Claude, or use a scripted model "
                "(--model scripted:FILE)."
            )
        self.name = model_id
        self.client = anthropic.AsyncAnthropic(
            base_url=settings.base_url or None,
            timeout=settings.request_timeout,
        )

    async def reply(self, request: ModelRequest, on_stream: StreamListener) -> ModelReply:
        import anthropic

        try:
            async with self.client.messages.stream(
                model=self.name,
                system=request.system,
                tools=request.tools,
                messages=request.messages,
                max_tokens=request.max_tokens,
            ) as stream:
                async for event in stream:
                    if event.type == "content_block_start" and event.content_block.type == "tool_use":
                        on_stream({"tool": event.content_block.name})
                message = await stream.get_final_message()
        except anthropic.APIError as e:
            raise ModelError(f"the Anthropic API failed: {e}") from e
        usage = message.usage
        return ModelReply(
            content=[block.model_dump(exclude_none=True) for block in message.content],
            stop_reason=message.stop_reason or "end_turn",
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
            ),
        )


def model_from_spec(spec: str, settings: Settings) -> Model:
    """``anthropic:<model-id>`` or ``scripted:<path-to-json>``."""
    kind, _, rest = spec.partition(":")
    if kind == "scripted" and rest:
        return ScriptedModel(Path(rest).expanduser().resolve())
    if kind == "anthropic" and rest:
        return AnthropicModel(rest, settings)
    raise MinionError(
        f"unknown model spec '{spec}': use anthropic:<model-id> or scripted:<path-to-json>"
    )
