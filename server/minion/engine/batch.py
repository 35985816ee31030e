"""Batch hand-off: one run per TODO comment, executed in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..context import Anchor, Todo
from ..runs.executor import on_fleet
from ..runs.model import RunRecord, Status
from ..runs.store import RunStore
from .create import RunRequest, create_run
from .execute import execute_run


def create_todo_runs(
    todos: list[Todo], repo, store: RunStore, *, model: str | None, blueprint: str | None,
    flags: Mapping[str, Any],
) -> list[RunRecord]:
    records: list[RunRecord] = []
    try:
        for todo in todos:
            anchor = Anchor(kind="todo", path=todo.path, start_line=todo.start_line - 1,
                            end_line=todo.end_line - 1, text=todo.text)
            request = RunRequest(task=todo.text, repo=repo, blueprint=blueprint or "todo", model=model,
                                 anchor=anchor, flags=flags)
            records.append(create_run(request, store))
    except Exception:
        for record in records:  # all or nothing: no run is left queued with nobody to run it
            store.update(record.id, status=Status.CANCELLED, summary="the batch could not start")
        raise
    return records


Listener = Callable[[dict[str, Any]], None]


async def execute_all(
    records: list[RunRecord], store: RunStore, *, max_parallel: int, listener: Listener,
    elsewhere: Callable[[RunRecord, Listener], Awaitable[RunRecord]] | None = None,
) -> list[RunRecord]:
    """Run them all, at most ``max_parallel`` at a time; results in the input order.
    ``elsewhere`` executes the runs whose settings send them to the fleet (the caller's:
    the engine does not import the fleet)."""
    gate = asyncio.Semaphore(max_parallel)

    async def one(record: RunRecord) -> RunRecord:
        async with gate:
            if store.cancel_requested(record.id):  # cancelled while it waited for its turn
                store.update(record.id, status=Status.CANCELLED, summary="cancelled before it started")
                return store.get(record.id)
            if elsewhere is not None and on_fleet(record):  # executor = "temporal" (docs/fleet.md)
                return await elsewhere(record, listener)
            return await execute_run(record.id, store, listeners=[listener])

    return list(await asyncio.gather(*(one(r) for r in records)))


def cancel_all(records: list[RunRecord], store: RunStore) -> None:
    for record in records:
        store.request_cancel(record.id)
