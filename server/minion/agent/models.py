"""Models the agent loop can talk to: Claude through the `anthropic` SDK, or a script.

A model takes a request in the Messages API's own form and returns the assistant's content
blocks (as plain dicts), the stop reason and the token usage. While it works it tells a
listener what is happening: ``listener("stream", output_tokens=…, tool=…)`` during a long
turn, ``listener("retry", …)`` before a retry.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..config import Settings
from ..errors import ConfigError, MinionError
from ..redact import install_log_redaction, redact, redact_text
from .usage import Usage, price_per_mtok

Listener = Callable[..., None]

STOP_REASONS = ("end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal",
                "model_context_window_exceeded")
DEFAULT_CONTEXT_WINDOW = 200_000


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


class ContextTooLong(ModelError):
    """The request does not fit the model's context window; the loop compacts and asks again."""


class Model(Protocol):
    name: str
    context_window: int

    async def reply(self, request: ModelRequest, listener: Listener) -> ModelReply: ...


# scripted


class ScriptedModel:
    """Replays a file of assistant turns, in order, across all agent nodes of a run."""

    context_window = DEFAULT_CONTEXT_WINDOW

    def __init__(self, path: Path):
        self.path = path
        self.name = f"scripted:{path.name}"
        self.turns = load_script(path)
        self.position = 0

    async def reply(self, request: ModelRequest, listener: Listener) -> ModelReply:
        if self.position >= len(self.turns):
            raise ModelError(
                f"the scripted model has no more turns: all {len(self.turns)} turns of "
                f"{self.path} were used"
            )
        content, stop_reason = self.turns[self.position]
        self.position += 1
        return ModelReply(content=content, stop_reason=stop_reason)


def inferred_stop_reason(content: list[dict[str, Any]]) -> str:
    return "tool_use" if any(block["type"] == "tool_use" for block in content) else "end_turn"


def load_script(path: Path) -> list[tuple[list[dict[str, Any]], str]]:
    """Read and validate a scripted-model file; errors name the file and the turn.

    A turn is an array of content blocks, or ``{"stop_reason": …, "content": [...]}`` when
    its stop reason is not the one the blocks imply (a recording of a truncated turn).
    """
    try:
        turns = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scripted model file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(turns, list):
        raise ConfigError(f"{path}: expected a JSON array of turns, got {type(turns).__name__}")
    return [_load_turn(turn, f"{path}: turn {t}", t) for t, turn in enumerate(turns)]


def _load_turn(turn: Any, where: str, t: int) -> tuple[list[dict[str, Any]], str]:
    stop_reason = None
    if isinstance(turn, dict):
        stop_reason, turn = turn.get("stop_reason"), turn.get("content")
        if stop_reason not in STOP_REASONS:
            raise ConfigError(f"{where}: \"stop_reason\" must be one of {', '.join(STOP_REASONS)}")
    if not isinstance(turn, list):
        raise ConfigError(f"{where} must be an array of content blocks")
    for b, block in enumerate(turn):
        _check_block(block, f"{where}, block {b}")
        if block["type"] == "tool_use":
            block.setdefault("id", f"toolu_scripted_{t}_{b}")
    return turn, stop_reason or inferred_stop_reason(turn)


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in ("text", "tool_use"):
        raise ConfigError(f"{where}: each block needs \"type\": \"text\" or \"tool_use\"")
    if block["type"] == "text" and not isinstance(block.get("text"), str):
        raise ConfigError(f"{where}: a text block needs a string \"text\"")
    if block["type"] == "tool_use":
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
            raise ConfigError(f"{where}: a tool_use block needs \"name\" and an object \"input\"")


# recording


class RecordingModel:
    """Wraps a model and writes every reply to a scripted-model file as the run goes.

    Paths under ``repo_path`` in tool inputs are written relative to the repo, so that the
    script replays on any checkout. The file is rewritten whole after every turn (atomically),
    so a run that dies still leaves a valid script.
    """

    def __init__(self, inner: Model, path: Path, repo_path: Path | None = None):
        self.inner = inner
        self.name = inner.name
        self.context_window = inner.context_window
        self.path = path
        self.repo_path = repo_path
        self.turns: list[Any] = []

    async def reply(self, request: ModelRequest, listener: Listener) -> ModelReply:
        reply = await self.inner.reply(request, listener)
        self.turns.append(self._turn(reply))
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(redact(self.turns), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        partial.replace(self.path)
        return reply

    def _turn(self, reply: ModelReply) -> Any:
        blocks = [self._scriptable(b) for b in reply.content if b["type"] in ("text", "tool_use")]
        if reply.stop_reason == inferred_stop_reason(blocks):
            return blocks
        return {"stop_reason": reply.stop_reason, "content": blocks}

    def _scriptable(self, block: dict[str, Any]) -> dict[str, Any]:
        if block["type"] == "text":
            return {"type": "text", "text": block["text"]}
        tool_input = dict(block["input"])
        path = tool_input.get("path")
        if self.repo_path and isinstance(path, str) and Path(path).is_relative_to(self.repo_path):
            tool_input["path"] = Path(path).relative_to(self.repo_path).as_posix() or "."
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": tool_input}


# Claude

# Error events that can arrive inside a stream after HTTP 200; the SDK raises them without
# retrying, so minion retries them itself.
TRANSIENT_STREAM_ERRORS = ("overloaded_error", "api_error", "rate_limit_error")
PROGRESS_EVERY_TOKENS = 200  # output tokens between two "stream" progress notices
MAX_BACKOFF_S = 60.0

# The listener of the request in flight, for the SDK middleware that reports its retries.
_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar("minion_model_listener", default=None)


class StreamBroke(Exception):
    """The stream failed after HTTP 200: a dropped connection, a stall or an error event."""


class AnthropicModel:
    """Claude through the official SDK, streamed: long turns stay alive and show progress.

    The SDK's import and its HTTP client take about a second: they are made in the
    background from the start, while the run takes its snapshot and gathers its context;
    the first request waits for them only if they are not ready yet."""

    def __init__(self, model_id: str, settings: Settings):
        self.check(model_id, settings)
        install_log_redaction()
        self.name = model_id
        self.context_window = settings.context_window
        self.stream_retries = settings.stream_retries
        self.retry_backoff = settings.retry_backoff
        self._client: Future[Any] = Future()
        threading.Thread(target=self._make_client, args=(settings,), name="minion-sdk-client", daemon=True).start()

    @staticmethod
    def check(model_id: str, settings: Settings) -> None:
        """What can be wrong with this model before any request: no key, a bad price table."""
        if not os.environ.get("ANTHROPIC_API_KEY") and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set. Set it to use Claude, or use a scripted model "
                "(--model scripted:FILE)."
            )
        price_per_mtok(model_id, settings.prices)  # a bad price table fails before the run starts

    def _make_client(self, settings: Settings) -> None:
        try:
            import anthropic

            self._client.set_result(anthropic.AsyncAnthropic(
                base_url=settings.base_url or None,  # None: ANTHROPIC_BASE_URL, else the public API
                timeout=settings.request_timeout,
                max_retries=settings.max_retries,
                middleware=[self._report_sdk_retries],
            ))
        except BaseException as e:  # raised again where the client is first used
            self._client.set_exception(e)

    @property
    def client(self) -> Any:
        return self._client.result()

    async def reply(self, request: ModelRequest, listener: Listener) -> ModelReply:
        import anthropic

        token = _listener.set(listener)
        try:
            return await self._reply_with_retries(request, listener)
        except anthropic.APIError as e:
            raise _model_error(e, self.client.base_url) from e
        finally:
            _listener.reset(token)

    async def _reply_with_retries(self, request: ModelRequest, listener: Listener) -> ModelReply:
        lost = Usage()  # what broken attempts used: the API bills them too
        attempt = 0
        while True:
            progress = StreamProgress(listener)
            try:
                content, stop_reason = await self._stream(request, progress)
            except StreamBroke as e:
                lost.add(progress.usage)
                if attempt == self.stream_retries:
                    raise ModelError(redact_text(f"the stream broke {attempt + 1} times; the last time: {e}")) from e
                delay = min(self.retry_backoff * 2**attempt, MAX_BACKOFF_S) * random.uniform(0.8, 1.0)
                attempt += 1
                listener("retry", attempt=attempt, reason=redact_text(str(e)), delay_s=round(delay, 3))
                await asyncio.sleep(delay)
                continue
            progress.usage.add(lost)
            return ModelReply(content=content, stop_reason=stop_reason, usage=progress.usage)

    async def _stream(self, request: ModelRequest, progress: StreamProgress) -> tuple[list[dict[str, Any]], str]:
        import anthropic
        import httpx2

        # Opening the stream is one HTTP request: the SDK retries it (429, 529, 5xx, timeouts).
        async with self.client.messages.stream(
            model=self.name,
            system=request.system,
            tools=request.tools,
            messages=request.messages,
            max_tokens=request.max_tokens,
        ) as stream:
            try:
                async for event in stream:
                    progress.see(event)
            except (httpx2.TransportError, anthropic.APIConnectionError) as e:
                raise StreamBroke(f"the connection broke mid-stream ({type(e).__name__}: {e})") from e
            except anthropic.APIStatusError as e:
                if e.type not in TRANSIENT_STREAM_ERRORS:
                    raise
                raise StreamBroke(f"{e.type} inside the stream: {e.api_message or e.message}") from e
            if not (progress.stop_reason and progress.complete):
                raise StreamBroke("the stream ended before its message_delta and message_stop")
            message = await stream.get_final_message()
        return [block.model_dump(exclude_none=True) for block in message.content], progress.stop_reason

    async def _report_sdk_retries(self, request: Any, call_next: Any) -> Any:
        """SDK middleware, around each HTTP attempt: tells the run when the SDK is about to
        retry, so that a long wait on a rate limit shows as such and not as a hang."""
        import anthropic

        # Only an attempt the SDK will retry is told (to the run's listener, if any).
        listener = _listener.get() if request.retries_taken < self.client.max_retries else None
        attempt = request.retries_taken + 1
        try:
            response = await call_next(request)
        except anthropic.APIConnectionError as e:
            if listener is not None:
                listener("retry", attempt=attempt, reason=redact_text(f"{type(e).__name__}: {e}"))
            raise
        if listener is not None and (response.status_code in (408, 409, 429) or response.status_code >= 500):
            retry_after = response.headers.get("retry-after")
            listener("retry", attempt=attempt, reason=f"HTTP {response.status_code}",
                     **({"retry_after_s": float(retry_after)} if _is_number(retry_after) else {}))
        return response


class StreamProgress:
    """Follows one stream: the usage it reports, an estimate of the tokens written so far and
    the tool being written, told to the listener as it goes."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.usage = Usage()
        self.chars = 0
        self.reported_tokens = 0
        self.stop_reason: str | None = None
        self.complete = False  # message_stop arrived: a proxy may end a cut stream cleanly

    @property
    def output_tokens(self) -> int:
        return max(self.usage.output_tokens, self.chars // 4)

    def see(self, event: Any) -> None:
        kind = event.type
        if kind == "message_start":
            self._take_usage(event.message.usage)
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            self.listener("stream", output_tokens=self.output_tokens, tool=event.content_block.name)
        elif kind == "content_block_delta":
            delta = event.delta
            self.chars += len(getattr(delta, "text", None) or getattr(delta, "partial_json", None) or "")
            if self.output_tokens - self.reported_tokens >= PROGRESS_EVERY_TOKENS:
                self.reported_tokens = self.output_tokens
                self.listener("stream", output_tokens=self.output_tokens)
        elif kind == "message_delta":
            self._take_usage(event.usage)
            self.stop_reason = event.delta.stop_reason
        elif kind == "message_stop":
            self.complete = True

    def _take_usage(self, usage: Any) -> None:
        # Counts in message_delta are running totals: they replace, and a missing one keeps its value.
        for mine, theirs in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                             ("cache_write_tokens", "cache_creation_input_tokens"),
                             ("cache_read_tokens", "cache_read_input_tokens")):
            value = getattr(usage, theirs, None)
            if value is not None:
                setattr(self.usage, mine, value)


def _is_number(value: str | None) -> bool:
    try:
        float(value or "")
    except ValueError:
        return False
    return True


def _model_error(e: Exception, base_url: Any) -> ModelError:
    import anthropic

    if isinstance(e, anthropic.APIStatusError):
        detail = e.api_message or e.message
        message = f"the Anthropic API answered HTTP {e.status_code} ({e.type or 'error'}): {detail}"
        # No error code names this case; the message is the only sign of it.
        too_long = isinstance(e, anthropic.BadRequestError) and "prompt is too long" in detail.lower()
        return (ContextTooLong if too_long else ModelError)(redact_text(message))
    if isinstance(e, anthropic.APIConnectionError):
        return ModelError(redact_text(f"cannot reach the Anthropic API at {base_url}: {e}"))
    return ModelError(redact_text(f"the Anthropic API failed: {type(e).__name__}: {e}"))


def preload_sdk() -> None:
    """Import the SDK in the background: it takes about a second, as long as the snapshot,
    which mostly waits on git. A later ``import anthropic`` waits for this one to finish."""
    threading.Thread(target=__import__, args=("anthropic",), name="minion-sdk-import", daemon=True).start()


def model_from_spec(spec: str, settings: Settings) -> Model:
    """``anthropic:<model-id>`` or ``scripted:<path-to-json>``."""
    kind, rest = _parse_spec(spec)
    if kind == "scripted":
        return ScriptedModel(Path(rest).expanduser().resolve())
    return AnthropicModel(rest, settings)


def check_model_spec(spec: str, settings: Settings) -> None:
    """Fail now on what `model_from_spec` would fail on later, without making the model."""
    kind, rest = _parse_spec(spec)
    if kind == "scripted":
        ScriptedModel(Path(rest).expanduser().resolve())  # reads the script: cheap
    else:
        AnthropicModel.check(rest, settings)


def _parse_spec(spec: str) -> tuple[str, str]:
    kind, _, rest = spec.partition(":")
    if kind in ("scripted", "anthropic") and rest:
        return kind, rest
    raise MinionError(
        f"unknown model spec '{spec}': use anthropic:<model-id> or scripted:<path-to-json>"
    )
