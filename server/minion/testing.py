"""Test your blueprints: run one against a scripted model, in a throwaway git repository.

```python
from minion.testing import done, replace, run_blueprint

result = run_blueprint(
    "default",                                    # a name, a blueprint file, or the function
    files={"calc.py": "def add(a, b):\\n    return a - b\\n"},
    turns=[[replace("calc.py", "a - b", "a + b")], done("add() adds")],
    checks={},
)
assert result.status == "ok" and result.files["calc.py"].endswith("a + b\\n")
```

`run_blueprint` makes a git repository of ``files`` (committed), writes ``turns`` as a
scripted-model file (each turn a list of content blocks: `text`, `tool`, `replace`,
`create`, `bash`; `done` is a turn that ends an agent node), and runs a real run of the
blueprint on it: snapshot, sandbox, checks, commit, as ``minion run`` does, with minion's
state (run store, logs, worktrees, trust) and user config in a folder of its own. It
returns a `BlueprintResult`: the status, the nodes, what the branch holds.

The checks run in the sandbox (bubblewrap; ``settings={"sandbox": "none"}`` runs them
unsandboxed). The project's Python is the one running the test, so ``python -m pytest``
in ``checks`` is your test environment's pytest. Runs change environment variables while
they last (``MINION_STATE_DIR``, ``XDG_CONFIG_HOME``): run one at a time per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .blueprint.registry import MARK, Blueprint, declarations
from .context import Anchor
from .engine.create import RunRequest, create_run
from .engine.execute import execute_run
from .errors import MinionError
from .git import git
from .runs.events import log_path, read_events
from .runs.model import CheckResult, NodeRecord, RunRecord, Status
from .runs.store import RunStore
from .trust import trust_repo

__all__ = [
    "Block", "BlueprintResult", "Turn", "bash", "create", "done", "replace", "run_blueprint", "run_blueprint_async",
    "text", "tool", "write_files", "write_script",
]

Block = dict[str, Any]  # a content block in the Messages API's form
Turn = list[Block]  # one assistant turn


# --- scripted-model turns -----------------------------------------------------------------


def text(message: str) -> Block:
    """What the model says."""
    return {"type": "text", "text": message}


def tool(name: str, **tool_input: Any) -> Block:
    """A tool call: ``str_replace_based_edit_tool``, ``bash``, ``search``, ``outline``, or an
    MCP server's tool by its ``mcp__<server>__<tool>`` name (docs/mcp.md)."""
    return {"type": "tool_use", "name": name, "input": tool_input}


def replace(path: str, old: str, new: str) -> Block:
    """Edit ``path`` (relative to the repo root): its one occurrence of ``old`` becomes ``new``."""
    return tool("str_replace_based_edit_tool", command="str_replace", path=path, old_str=old, new_str=new)


def create(path: str, content: str) -> Block:
    """Write a new file."""
    return tool("str_replace_based_edit_tool", command="create", path=path, file_text=content)


def bash(command: str) -> Block:
    """A shell command, in the sandbox."""
    return tool("bash", command=command)


def done(summary: str = "Done.") -> Turn:
    """A turn without tool calls: the agent node ends, saying ``summary``."""
    return [text(summary)]


def write_script(directory: Path, turns: Sequence[Turn | Mapping[str, Any]], name: str = "script.json") -> str:
    """Write a scripted-model file of ``turns``; returns its model spec (``scripted:<path>``)."""
    path = Path(directory) / name
    path.write_text(json.dumps(list(turns), indent=1))
    return f"scripted:{path}"


# --- running a blueprint ------------------------------------------------------------------


@dataclass
class BlueprintResult:
    """What a test run of a blueprint did."""

    record: RunRecord  # the run as `minion show --json` has it
    nodes: list[NodeRecord]  # in order: name, kind, status, summary, result
    files: dict[str, str]  # the files the run changed, as its branch has them (deleted ones absent)
    diff: str  # the branch against the snapshot
    events: list[dict[str, Any]] = field(default_factory=list)  # the run's event log
    repo: Path | None = None  # the test repository, kept only when run_blueprint was given a workdir

    @property
    def status(self) -> Status:
        """``ok``, ``failed_checks``, ``capped_turns``, ``failed`` … (a str enum: compare it with a str)."""
        return self.record.status

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def checks(self) -> list[CheckResult]:
        """The last checks the run ran."""
        return self.record.checks

    @property
    def error(self) -> str | None:
        """What went wrong, with the traceback, for a ``failed`` run."""
        return self.record.error


BlueprintLike = str | Path | Blueprint | Callable[..., Awaitable[None]]

TEST_USER_CONFIG = "warm = false\nstandby = 0\n"  # nothing outlives the test in the background
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "user@example.com",
                "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "user@example.com"}


def run_blueprint(blueprint: BlueprintLike = "default", *, files: Mapping[str, str | bytes] | None = None,
                  turns: Sequence[Turn | Mapping[str, Any]] = (), task: str = "make the tests pass",
                  checks: Mapping[str, str] | None = None, anchor: Anchor | None = None, name: str | None = None,
                  settings: Mapping[str, Any] | None = None, workdir: Path | None = None) -> BlueprintResult:
    """Run ``blueprint`` on a repository of ``files`` with a model that answers ``turns``.

    ``blueprint``: a name (a built-in, or one a ``.minion/blueprints/`` file in ``files``
    declares), a blueprint file (a `Path`, copied into the repository's
    ``.minion/blueprints/``; ``name`` picks one when it declares several), or the decorated
    function itself. The repository's blueprint files are trusted for the run.
    ``checks``: the checks setting (``{}``: none; None: detected, as in a real run).
    ``settings``: any other settings, as flags (``{"repair_rounds": 1, "max_turns": 5}``).
    ``workdir``: where the repository and minion's state go (kept); else a temporary folder,
    removed at the end. Call `run_blueprint_async` from async code.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise MinionError("run_blueprint was called inside an event loop: use `await run_blueprint_async(...)`")
    return asyncio.run(run_blueprint_async(
        blueprint, files=files, turns=turns, task=task, checks=checks, anchor=anchor, name=name, settings=settings,
        workdir=workdir))


async def run_blueprint_async(blueprint: BlueprintLike = "default", *, files: Mapping[str, str | bytes] | None = None,
                              turns: Sequence[Turn | Mapping[str, Any]] = (), task: str = "make the tests pass",
                              checks: Mapping[str, str] | None = None, anchor: Anchor | None = None,
                              name: str | None = None, settings: Mapping[str, Any] | None = None,
                              workdir: Path | None = None) -> BlueprintResult:
    """`run_blueprint`, for async code (a pytest-asyncio test)."""
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="minion-test-"))
    try:
        with _isolated(root):
            repo = _make_repo(root / "repo", files or {})
            given, bp_name = _blueprint_for(blueprint, repo, name)
            _commit(repo)
            if any((repo / ".minion" / "blueprints").glob("*.py")):
                trust_repo(repo)  # the test's own files: its author wrote them
            flags: dict[str, Any] = {"python": sys.executable, **(settings or {})}
            if checks is not None:
                flags["checks"] = dict(checks)
            store = RunStore()
            request = RunRequest(task=task, repo=repo, blueprint=bp_name, model=write_script(root, turns),
                                 anchor=anchor, flags=flags)
            record = create_run(request, store, given_blueprint=given is not None)
            final = await execute_run(record.id, store, blueprint=given)
            return _result(final, store, repo, keep=workdir is not None)
    finally:
        if workdir is None:
            _remove(root)


def _blueprint_for(blueprint: BlueprintLike, repo: Path, name: str | None) -> tuple[Blueprint | None, str]:
    """The blueprint to hand the run (None: found by name in the repo) and its name."""
    if isinstance(blueprint, Blueprint):
        return blueprint, blueprint.name
    if isinstance(blueprint, Path):
        data = blueprint.read_bytes()
        declared = [d.name for d in declarations(blueprint, data)]
        if name is None and len(declared) != 1:
            raise MinionError(f"{blueprint} declares {len(declared)} blueprints ({', '.join(declared) or 'none'}): "
                              "say which one with name=")
        target = repo / ".minion" / "blueprints" / blueprint.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return None, name or declared[0]
    if isinstance(blueprint, str):
        return None, blueprint
    if callable(blueprint):
        mark = getattr(blueprint, MARK, None)
        bp_name, description = mark if isinstance(mark, tuple) else (getattr(blueprint, "__name__", "test"), "")
        source = inspect.getsourcefile(blueprint) or "<test>"
        return Blueprint(name or bp_name, description, blueprint, Path(source)), name or bp_name
    raise TypeError(f"not a blueprint: {blueprint!r}")


@contextlib.contextmanager
def _isolated(root: Path) -> Iterator[None]:
    """minion's state and the user's config in ``root`` while the run lasts."""
    config = root / "config"
    (config / "minion").mkdir(parents=True, exist_ok=True)
    (config / "minion" / "config.toml").write_text(TEST_USER_CONFIG)
    values = {"MINION_STATE_DIR": str(root / "state"), "XDG_CONFIG_HOME": str(config)}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _make_repo(repo: Path, files: Mapping[str, str | bytes]) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=repo)
    write_files(repo, files)
    return repo


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write ``files`` (path relative to ``root`` -> text or bytes), making their folders."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _commit(repo: Path) -> None:
    git("add", "-A", cwd=repo)
    git("-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty",
        "-m", "test repository", cwd=repo, env=GIT_IDENTITY)


def _result(final: RunRecord, store: RunStore, repo: Path, *, keep: bool) -> BlueprintResult:
    head = final.head or final.base or "HEAD"
    changed = {}
    for path in final.files:
        if git("ls-tree", "--name-only", head, "--", path, cwd=repo):
            blob = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"{head}:{path}"],
                                  capture_output=True, check=True).stdout  # every byte, the last newline too
            changed[path] = blob.decode("utf-8", errors="replace")
    diff = git("diff", final.base, head, cwd=repo) if final.base else ""
    return BlueprintResult(final, store.nodes(final.id), changed, diff, read_events(log_path(final.id)),
                           repo if keep else None)


def _remove(root: Path) -> None:
    """Remove the test's folder, read-only folders a run left (a module cache) included."""
    def writable(function: Callable[[str], object], path: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            function(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=writable)
    else:
        shutil.rmtree(root, onerror=writable)
