"""A stand-in for the Anthropic Messages API on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/messages`` in JSON or, when the request asks to stream, in SSE with the
real event sequence (message_start, content_block_start/delta/stop with ``text_delta`` and
``input_json_delta``, message_delta with the stop reason and usage, message_stop), sent with
chunked transfer encoding like the real API. Each request takes the next item of a script:
a `Turn` (an assistant message) or a `Fault`. Every request body is kept in `requests`.

    with FakeAnthropic() as api:
        api.script(Turn([text("hi")]), rate_limited(retry_after=1), Turn([text("done")]))
        ... point ANTHROPIC_BASE_URL at api.url and run the real client ...
        assert len(api.requests) == 3
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Block = dict[str, Any]
TEXT_CHUNK = 16  # characters per text_delta
JSON_CHUNK = 24  # characters per input_json_delta


@dataclass
class Turn:
    """One assistant message, as the API would produce it."""

    content: list[Block]
    stop_reason: str | None = None  # default: tool_use when the content calls a tool, else end_turn
    usage: dict[str, int] = field(default_factory=dict)  # input_tokens, output_tokens, cache_*_input_tokens
    cut: bool = False  # the last tool_use's input JSON stops halfway, as when max_tokens cuts it off
    stop_details: dict[str, Any] | None = None
    event_delay: float = 0.0  # seconds between SSE events: a slow but live stream

    def resolved_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if any(b["type"] == "tool_use" for b in self.content) else "end_turn"

    def resolved_usage(self) -> dict[str, int]:
        return {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, **self.usage}


@dataclass
class Fault:
    """One request that goes wrong. Mid-stream faults first send ``after_events`` events of
    the next scripted turn (which stays queued for the retry)."""

    kind: str  # "status" | "drop" | "error_event" | "stall"
    status: int = 500
    error_type: str = "api_error"
    message: str = "fault injected by the fake server"
    headers: dict[str, str] = field(default_factory=dict)
    after_events: int = 0
    seconds: float = 0.0


def rate_limited(retry_after: float = 1) -> Fault:
    return Fault("status", 429, "rate_limit_error", "rate limited", {"retry-after": f"{retry_after:g}"})


def overloaded() -> Fault:
    return Fault("status", 529, "overloaded_error", "Overloaded")


def server_error() -> Fault:
    return Fault("status", 500, "api_error", "Internal server error")


def prompt_too_long() -> Fault:
    return Fault("status", 400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")


def dropped(after_events: int = 4) -> Fault:
    """The connection closes in the middle of the chunked body."""
    return Fault("drop", after_events=after_events)


def overloaded_in_stream(after_events: int = 4) -> Fault:
    """HTTP 200, then an ``error`` event of type overloaded_error inside the stream."""
    return Fault("error_event", error_type="overloaded_error", message="Overloaded", after_events=after_events)


def stall(seconds: float, after_events: int = 0) -> Fault:
    """Nothing for ``seconds`` (before the headers, or after some events), then a closed connection."""
    return Fault("stall", seconds=seconds, after_events=after_events)


@dataclass
class Received:
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    took: float = 0.0  # seconds the server spent answering

    def spans(self) -> dict[str, bytes]:
        """Each top-level key of the body with its value's exact bytes, as sent."""
        text = self.raw.decode()
        return {key: text[start:end].encode() for key, start, end in _members(text, 0)}

    def message_spans(self) -> list[bytes]:
        """The exact bytes of each message, as sent."""
        text = self.raw.decode()
        start = next(start for key, start, _ in _members(text, 0) if key == "messages")
        return [text[a:b].encode() for a, b in _elements(text, start)]


_DECODER = json.JSONDecoder()
_GAP = re.compile(r"\s*[:,]?\s*")


def _members(text: str, at: int) -> list[tuple[str, int, int]]:
    """(key, start, end) of each member of the JSON object at ``at``."""
    members, at = [], _GAP.match(text, at + 1).end()
    while text[at] != "}":
        key, at = _DECODER.raw_decode(text, at)
        start = _GAP.match(text, at).end()
        _, end = _DECODER.raw_decode(text, start)
        members.append((key, start, end))
        at = _GAP.match(text, end).end()
    return members


def _elements(text: str, at: int) -> list[tuple[int, int]]:
    """(start, end) of each element of the JSON array at ``at``."""
    elements, at = [], _GAP.match(text, at + 1).end()
    while text[at] != "]":
        _, end = _DECODER.raw_decode(text, at)
        elements.append((at, end))
        at = _GAP.match(text, end).end()
    return elements


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._queue: deque[Turn | Fault] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeAnthropic":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()  # wakes stalled handlers
        self._server.shutdown()
        self._server.server_close()

    def script(self, *items: Turn | Fault | list[Block]) -> None:
        """Queue what the next requests get; a plain list of blocks is a `Turn`."""
        with self._lock:
            for item in items:
                turn = Turn(item) if isinstance(item, list) else item
                if isinstance(turn, Turn):
                    turn.content = [self._with_id(b) for b in turn.content]
                self._queue.append(turn)

    @property
    def remaining(self) -> int:
        return len(self._queue)

    def _with_id(self, block: Block) -> Block:
        if block["type"] == "tool_use" and "id" not in block:
            return {**block, "id": f"toolu_fake_{next(self._ids):03d}"}
        return block

    def _take(self, received: Received) -> tuple[Turn | Fault | None, Turn | None]:
        """The item for this request, and the turn a mid-stream fault shows part of."""
        with self._lock:
            self.requests.append(received)
            item = self._queue.popleft() if self._queue else None
            following = next((i for i in self._queue if isinstance(i, Turn)), None)
        return item, following

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like the real API

    def setup(self) -> None:
        super().setup()
        # Each SSE event goes out at once, as from the real API; with Nagle's algorithm the
        # small writes would wait for delayed ACKs, some 40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    @property
    def fake(self) -> FakeAnthropic:
        return self.server.fake  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?")[0] != "/v1/messages":
            return self._error(404, "not_found_error", f"no route {self.path}")
        received = Received(json.loads(raw), raw, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        item, following = self.fake._take(received)
        try:
            self._answer(received.body, item, following)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing left to say
        finally:
            received.took = time.monotonic() - received.at

    def _answer(self, body: dict[str, Any], item: Turn | Fault | None, following: Turn | None) -> None:
        if item is None:
            return self._error(400, "invalid_request_error", "fake server: no scripted response left")
        if isinstance(item, Turn):
            message = _message(item, body["model"])
            if body.get("stream"):
                return self._stream(_events(item, message), item.event_delay)
            return self._json(200, message)
        if item.kind == "status":
            return self._error(item.status, item.error_type, item.message, item.headers)
        events = _events(following, _message(following, body["model"])) if following else []
        self._fault(item, events[: item.after_events])

    # responses

    def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", f"req_fake_{len(self.fake.requests)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", f"req_fake_{len(self.fake.requests)}")
        self.end_headers()

    def _event(self, name: str, data: dict[str, Any]) -> None:
        payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _stream(self, events: list[tuple[str, dict[str, Any]]], delay: float = 0.0) -> None:
        self._start_stream()
        for name, data in events:
            self._event(name, data)
            if delay:
                self.fake._wait(delay)
        self.wfile.write(b"0\r\n\r\n")

    def _fault(self, fault: Fault, events: list[tuple[str, dict[str, Any]]]) -> None:
        if fault.kind == "stall" and not events:
            self.fake._wait(fault.seconds)
            return self._hang_up()
        self._start_stream()
        for name, data in events:
            self._event(name, data)
        if fault.kind == "error_event":
            self._event("error", {"type": "error", "error": {"type": fault.error_type, "message": fault.message}})
            self.wfile.write(b"0\r\n\r\n")
            return
        if fault.kind == "stall":
            self.fake._wait(fault.seconds)
        self._hang_up()  # "drop", or the end of a stall: no terminating chunk

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _message(turn: Turn, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{id(turn):x}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": turn.content,
        "stop_reason": turn.resolved_stop_reason(),
        "stop_sequence": None,
        "stop_details": turn.stop_details,
        "usage": turn.resolved_usage(),
    }


def _events(turn: Turn, message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    usage = turn.resolved_usage()
    start = {**message, "content": [], "stop_reason": None, "stop_details": None,
             "usage": {**usage, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"})]
    last = len(turn.content) - 1
    for index, block in enumerate(turn.content):
        events += _block_events(index, block, cut=turn.cut and index == last and block["type"] == "tool_use")
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None, "stop_details": turn.stop_details}
    events.append(("message_delta", {"type": "message_delta", "delta": delta,
                                     "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: Block, *, cut: bool) -> list[tuple[str, dict[str, Any]]]:
    if block["type"] == "text":
        empty, key, delta_type, whole, size = {"type": "text", "text": ""}, "text", "text_delta", block["text"], TEXT_CHUNK
    else:
        empty = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        key, delta_type, whole, size = "partial_json", "input_json_delta", json.dumps(block["input"]), JSON_CHUNK
        if cut:
            whole = whole[: len(whole) // 2]
    events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})]
    for at in range(0, len(whole), size):
        delta = {"type": delta_type, key: whole[at: at + size]}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
