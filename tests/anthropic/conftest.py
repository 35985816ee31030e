"""Runs against a fake Messages API on 127.0.0.1, driven by the real `anthropic` client.

Nothing here mocks the client: ANTHROPIC_BASE_URL points it at `FakeAnthropic`, which
speaks HTTP and SSE, replays scripted turns and injects faults.
"""

from pathlib import Path
from typing import Any

import pytest

from minion.engine.create import RunRequest, create_run

from minion.engine.execute import execute_run
from minion.runs.model import RunRecord
from minion.runs.store import RunStore
from support.claude import API_KEY, FAST, MODEL
from support.fake_anthropic import FakeAnthropic


@pytest.fixture
def api(monkeypatch) -> FakeAnthropic:
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        yield server


@pytest.fixture
def run(repo):
    """``await run(task, **settings)``: a whole run over the fake API -> (final record, store)."""

    async def go(task: str = "make add() add", *, repo: Path = repo, model: str = MODEL,
                 record_to: Path | None = None, **settings: Any) -> tuple[RunRecord, RunStore]:
        store = RunStore()
        record = create_run(RunRequest(task=task, repo=repo, model=model, flags={**FAST, **settings}), store)
        return await execute_run(record.id, store, record_to=record_to), store

    return go
