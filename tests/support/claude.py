"""What the tests of the Anthropic path share: the model spec, a dummy key, fast settings, readers."""

from pathlib import Path
from typing import Any

from minion.runs.events import log_path, read_events
from minion.runs.model import RunRecord
from support.gitrepo import run_git
from support.script import replace

MODEL = "anthropic:claude-sonnet-5-5"
API_KEY = "sk-ant-api03-dummy-test-key-0123456789abcdefghij"
# Short timeouts and backoffs keep the fault tests fast; checks are off unless a test sets them.
FAST = {"checks": {}, "retry_backoff": 0.01, "request_timeout": 5}
FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


def events(record: RunRecord, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in read_events(log_path(record.id)) if kind is None or e["type"] == kind]


def on_branch(repo: Path, record: RunRecord, path: str = "calc/ops.py") -> str:
    """The file as the run left it: on its branch, or at the commit it ended at when it
    changed nothing (such a run leaves no branch)."""
    return run_git(repo, "show", f"{record.branch if record.files else record.head}:{path}")
