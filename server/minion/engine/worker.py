"""A worker process: ``python -m minion.engine.worker RUN_ID`` executes one queued run.

The language server starts one worker per run, so a crashed or runaway run never takes
the server down. Each event is written to stdout as one JSON line as it happens; the
server reads the pipe. A pipe rather than tailing the JSONL log: events arrive the moment
they are emitted with no polling, and end-of-file tells the server the worker is gone.
The log and the run store stay the durable record, so when the server itself goes away
(the pipe breaks) the worker carries on, and a restarted server reads the outcome there.

Exit status: 0 whenever the run reached an end state (the store says which); anything
else means the worker itself failed, and the traceback is on stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any, TextIO

from ..errors import MinionError
from ..runs.store import RunStore
from .execute import execute_run

WORKER_NICENESS = 10


class EventStream:
    """Writes events as JSON lines; goes quiet for good once the reader has gone."""

    def __init__(self, out: TextIO):
        self.out: TextIO | None = out

    def __call__(self, event: dict[str, Any]) -> None:
        if self.out is None:
            return
        try:
            self.out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            self.out.flush()
        except (BrokenPipeError, OSError):
            self.out = None  # the server is gone; the run goes on, recorded in the store


def _claim_stdout() -> TextIO:
    """The event stream gets the real stdout; anything else printed goes to stderr."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


async def _execute(run_id: str, stream: EventStream) -> None:
    store = RunStore()
    loop = asyncio.get_running_loop()
    # A polite stop (SIGTERM, SIGINT) cancels the run: the work so far is committed.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, store.request_cancel, run_id)
    await execute_run(run_id, store, listeners=[stream])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m minion.engine.worker RUN_ID", file=sys.stderr)
        return 2
    # A run is background work: a lower priority (inherited by its sandboxed commands)
    # keeps the editor and the language server responsive while checks burn CPU.
    os.nice(WORKER_NICENESS)
    stream = EventStream(_claim_stdout())
    try:
        asyncio.run(_execute(argv[0], stream))
    except MinionError as e:  # the run could not start (its blueprint file…): stored as failed
        print(f"minion: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
