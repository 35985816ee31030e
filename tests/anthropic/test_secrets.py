"""No secret from the environment reaches an event, a log record, a stored row or a recording."""

import logging
import sqlite3

from minion.runs.model import result_json

from minion.runs.events import log_path
from minion.runs.model import Status
from minion.state import state_dir
from support.claude import API_KEY, FIX_ADD
from support.fake_anthropic import Fault, Turn
from support.script import bash, text

GITHUB_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
DB_PASSWORD = "correct-horse-battery-staple"


async def test_secrets_are_redacted_everywhere(api, run, repo, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("MY_DB_PASSWORD", DB_PASSWORD)
    caplog.set_level(logging.DEBUG)
    secrets = (API_KEY, GITHUB_TOKEN, DB_PASSWORD)
    # The model repeats what it should not, and the endpoint echoes the key back in an error.
    api.script(
        Turn([text(f"I found {GITHUB_TOKEN} and {DB_PASSWORD}."), FIX_ADD, bash(f"echo {DB_PASSWORD}")]),
        Fault("status", 401, "authentication_error", f"invalid x-api-key: {API_KEY}"),
    )
    recording = tmp_path / "recorded.json"
    final, store = await run(record_to=recording)

    assert final.status is Status.FAILED and "401" in final.summary
    with sqlite3.connect(state_dir() / "runs.db") as db:
        rows = [str(row) for table in ("runs", "nodes") for row in db.execute(f"SELECT * FROM {table}")]
    places = {
        "event log": log_path(final.id).read_text(),
        "run store": "\n".join(rows),
        "result": str(result_json(final)),
        "logging": "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records),
        "recording": recording.read_text(),
    }
    assert "[REDACTED]" in places["event log"] and "[REDACTED]" in places["run store"]
    leaks = [(place, secret[:8]) for place, content in places.items() for secret in secrets if secret in content]
    assert not leaks
