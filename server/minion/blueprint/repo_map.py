"""The repo map a run's context shows, and building it before the run asks for it.

The map is of the snapshot's tree, not of the worktree, so it can be built while the
worktree is still being checked out: `prefetch` starts it in a thread of the process that
will run the blueprint (`minion run`), and the context node takes it from there.

On a cold cache the map parses for PARSE_SECONDS at most, then shows the files parsed by
then (the task's first) and says how many it leaves out; the rest are parsed into the
cache in the background while the run works, for the next run (`minion warm`, after the
run, parses what is still missing).
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future
from pathlib import Path

from ..config import Settings
from ..context import build_repo_map
from ..state import tags_cache

# About what a worktree's checkout takes (1-1.5 s for 10,000 files, bench/first_request.py),
# the cost of a first run in a repo with no pool: the map adds next to nothing to it.
PARSE_SECONDS = 1.0

_in_flight: dict[tuple, Future[str]] = {}
_lock = threading.Lock()


def prefetch(repo_root: Path, commit: str, settings: Settings, task: str, anchor_path: str | None) -> None:
    """Start building the map `repo_map` will be asked for, in the background."""
    if not settings.repo_map_tokens:
        return
    future: Future[str] = Future()
    with _lock:
        _in_flight[_key(commit, settings, task, anchor_path)] = future

    def build() -> None:
        try:
            future.set_result(_build(repo_root, commit, settings, task, anchor_path))
        except BaseException as e:  # the context node builds it again, and reports what fails
            future.set_exception(e)

    threading.Thread(target=build, name="minion-repo-map", daemon=True).start()


def repo_map(repo_root: Path, commit: str, settings: Settings, task: str, anchor_path: str | None) -> str:
    """The snapshot's most relevant definitions for the task, within the map's budget."""
    if not settings.repo_map_tokens:
        return ""
    with _lock:
        early = _in_flight.pop(_key(commit, settings, task, anchor_path), None)
    if early is not None:
        try:
            return early.result()
        except Exception:
            pass
    return _build(repo_root, commit, settings, task, anchor_path)


def _build(repo_root: Path, commit: str, settings: Settings, task: str, anchor_path: str | None) -> str:
    return build_repo_map(
        repo_root,
        tree=commit,  # the snapshot's files, cached by its tree
        exclude=settings.exclude,
        focus_files=[anchor_path] if anchor_path else [],
        focus_idents=identifiers(task),
        budget_tokens=settings.repo_map_tokens,
        cache=tags_cache(),
        parse_seconds=PARSE_SECONDS,
    )


def _key(commit: str, settings: Settings, task: str, anchor_path: str | None) -> tuple:
    return commit, task, anchor_path, settings.repo_map_tokens, tuple(settings.exclude)


def identifiers(text: str) -> list[str]:
    """The names a task mentions, which the map ranks up."""
    return sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", text)))
