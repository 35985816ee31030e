"""The run's append-only event log (JSONL), fanned out to live listeners.

Events are redacted before they are written or shown. The CLI's progress display, the
language server's ``$/progress`` and `minion logs` all read these same events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..redact import redact
from ..state import logs_dir

Listener = Callable[[dict[str, Any]], None]


def log_path(run_id: str) -> Path:
    return logs_dir() / f"{run_id}.jsonl"


class EventLog:
    def __init__(self, path: Path, run_id: str):
        self.path = path
        self.run_id = run_id
        self.listeners: list[Listener] = []
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, type: str, **data: Any) -> dict[str, Any]:
        event = redact({"ts": round(time.time(), 3), "run": self.run_id, "type": type, **data})
        line = json.dumps(event, ensure_ascii=False, default=str)
        # One write per line in append mode keeps concurrent writers from interleaving.
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        for listener in self.listeners:
            listener(event)
        return event


def describe(event: dict[str, Any]) -> str | None:
    """An event as one line of progress (the terminal's spinner, the editor's progress
    report), or None for events too fine to show."""
    kind = event["type"]
    if kind == "node.start":
        return f"{event['name']}…"
    if kind == "node.end":
        summary = f": {event['summary']}" if event.get("summary") else ""
        return f"{event['name']} {event['status']}{summary}"
    if kind == "agent.turn":
        return f"{event.get('node', 'agent')}: turn {event['turn']}"
    if kind == "agent.tool":
        return f"{event.get('node', 'agent')}: {event['tool']} {brief(event.get('input') or {})}".rstrip()
    if kind == "agent.stream":  # a long turn: tokens so far, and the tool call being written
        writing = f", writing a {event['tool']} call" if event.get("tool") else ""
        return f"{event.get('node', 'agent')}: turn {event['turn']}, ~{event['output_tokens']} tokens{writing}"
    if kind == "agent.retry":
        delay = event.get("retry_after_s") or event.get("delay_s")
        wait = f"retrying in {delay:g}s" if delay else "retrying"
        return f"{event.get('node', 'agent')}: turn {event['turn']}: {event['reason']}, {wait}"
    if kind == "mcp.start":
        return f"MCP server {event['server']} started ({event['where']}, {event['tools']} tools)"
    if kind == "mcp.call":
        error = ", an error" if event.get("is_error") else ""
        return (f"{event['server']}: {event['tool']} answered in {event['duration_s']:g}s "
                f"({event['result_chars']} chars{error})")
    if kind == "log" and event.get("level") == "warning":
        return f"warning: {event['message']}"
    return None


def brief(tool_input: dict[str, Any]) -> str:
    """What a tool call is about, cut short: its command, path or pattern."""
    for key in ("command", "path", "pattern"):
        if key in tool_input:
            text = str(tool_input[key]).replace("\n", " ")
            return text[:60] + ("…" if len(text) > 60 else "")
    return ""


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # blank, or torn by a worker killed mid-write
            continue
    return events
