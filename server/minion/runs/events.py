"""The run's append-only event log (JSONL), fanned out to live listeners.

Events are redacted before they are written or shown. The CLI's progress display, the
language server's ``$/progress`` and `minion logs` all read these same events.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

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
