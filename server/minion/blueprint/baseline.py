"""The baseline: the checks as they stood on the snapshot, before the agent changed anything.

A run is judged by what it changed. A test that already failed on the user's work is
reported as such ("already failing before this run") and no repair round chases it; a
failure the run added counts. The baseline runs in a worktree of its own, in a sandbox of
its own, beside the agent's first node, and is kept per snapshot tree, commands and
interpreter in minion's state dir: a second run of the same tree does not run it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..git import git
from ..runs.model import CheckResult
from ..sandbox import Sandbox
from ..snapshot import Snapshot, add_worktree
from ..state import state_dir
from ..worktrees import remove_worktree
from .failures import Failure, summary_line
from .python_env import PythonEnv

RunChecks = Callable[[Sandbox, dict[str, str]], Awaitable[list[CheckResult]]]


class Baseline:
    def __init__(self, snapshot: Snapshot, sandbox: Sandbox, python: PythonEnv, exclude: list[str],
                 emit: Callable[..., object]):
        self.snapshot = snapshot
        self.sandbox = sandbox  # the run's: the baseline's is the same policy on another worktree
        self.python = python
        self.exclude = exclude
        self.emit = emit
        self._task: asyncio.Task[dict[str, CheckResult]] | None = None

    def start(self, commands: dict[str, str], run_checks: RunChecks) -> None:
        """Begin in the background (once)."""
        if self._task is None and commands:
            self.emit("baseline.start", checks=list(commands))
            self._task = asyncio.ensure_future(self._results(commands, run_checks))

    async def results(self) -> dict[str, CheckResult] | None:
        """The baseline's results by check name; None when it was not started or failed."""
        if self._task is None:
            return None
        try:
            return await asyncio.shield(self._task)
        except Exception as e:  # a baseline that cannot run leaves the run judged without it
            self.emit("log", level="warning", message=f"the baseline checks could not run: {e}")
            return None

    async def stop(self) -> None:
        """Cancel it if it still runs; its error, if any, was the run's to report (or not)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _results(self, commands: dict[str, str], run_checks: RunChecks) -> dict[str, CheckResult]:
        cache = self._cache_file(commands)
        if cache.is_file():
            saved = json.loads(cache.read_text())
            self.emit("baseline.end", cached=True, failed=[name for name, c in saved.items() if not c["ok"]])
            return {name: CheckResult(**c) for name, c in saved.items()}
        policy = self.sandbox.policy
        worktree = policy.worktree.with_name(policy.worktree.name + "-baseline")
        sandbox = Sandbox(dataclasses.replace(policy, worktree=worktree, home=policy.home.with_name(worktree.name)))
        try:
            await asyncio.to_thread(add_worktree, self.snapshot, worktree, self.exclude)
            results = {c.name: c for c in await run_checks(sandbox, commands)}
        finally:
            await asyncio.to_thread(self._clean, sandbox)
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        cache.write_text(json.dumps({name: c.to_dict() for name, c in results.items()}))
        self.emit("baseline.end", cached=False, failed=[name for name, c in results.items() if not c.ok])
        return results

    def _cache_file(self, commands: dict[str, str]) -> Path:
        tree = git("rev-parse", f"{self.snapshot.commit}^{{tree}}", cwd=self.snapshot.repo_root)
        key = json.dumps([tree, commands, self.python.interpreter, str(self.python.prefix), self.exclude])
        return state_dir() / "baselines" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def _clean(self, sandbox: Sandbox) -> None:
        policy = sandbox.policy
        if policy.worktree.exists():
            remove_worktree(policy.worktree, self.snapshot.repo_root)
        shutil.rmtree(policy.home, ignore_errors=True)
        shutil.rmtree(policy.git_store, ignore_errors=True)


def judge(result: CheckResult, before: CheckResult | None, repo: str, task: str = "") -> CheckResult:
    """``result`` with what the baseline says about it. A failure counts when the check
    passed before the run, when it is new, or when the task is about it: the task names the
    check ("make the tests pass", "fix the ruff errors") or the failure (its file, its test,
    or the function a `test_<name>` tests: "fix add" is about `test_add`)."""
    if before is None:
        return result
    base_failures = _keys(before, repo)
    summary = "passed" if before.ok else summary_line(before.output, repo, before.exit_code)
    baseline = {"ok": before.ok, "summary": summary,
                "failures": sorted(base_failures.values())}
    words = {w.lower() for w in re.findall(r"[\w./-]+", task)}
    if _names_check(result, words):
        return dataclasses.replace(result, baseline=baseline)
    not_ours = {key for key, described in base_failures.items() if not _names_failure(described, words)}
    preexisting = not result.ok and not before.ok and set(_keys(result, repo)) <= not_ours
    return dataclasses.replace(result, baseline=baseline, preexisting=preexisting)


def brought(result: CheckResult, repo: str) -> list[str]:
    """The failures of ``result`` its baseline did not have (all of them without one)."""
    known = {_key(d) for d in (result.baseline or {}).get("failures", [])}
    return [d for key, d in _keys(result, repo).items() if key not in known]


# What a task calls a kind of check, besides the check's own name and program.
_CHECK_WORDS = {"test": {"test", "tests", "testsuite"}, "lint": {"lint", "linter", "linting", "lints"},
                "types": {"types", "typing", "type-check", "typecheck"}}
_GENERIC = {"go", "cargo", "npm", "make", "python", "python3"}  # "add a go function" is no word on `go vet`
_KIND = {"pytest": "test", "unittest": "test", "ruff": "lint", "flake8": "lint", "mypy": "types", "vet": "lint"}


def _names_check(result: CheckResult, words: set[str]) -> bool:
    program = result.command.split()[0].rsplit("/", 1)[-1] if result.command.split() else ""
    names = {result.name.lower(), program, *result.name.lower().split()}
    kinds = {_KIND.get(n, n) for n in names} | ({"test"} if "test" in result.name.lower() else set())
    return bool((names - _GENERIC) & words) or any(
        _CHECK_WORDS.get(kind, set()) & words for kind in kinds)


def _keys(result: CheckResult, repo: str) -> dict[str, str]:
    """Each failure of a failed check (as parsed when it ran) by its key; the whole summary
    when no failure can be told apart."""
    if result.ok:
        return {}
    described = [Failure(**f).describe() for f in result.failures] or [
        summary_line(result.output, repo, result.exit_code)]
    return {_key(d): d for d in described}


def _key(described: str) -> str:
    return re.sub(r"\d+", "#", described)  # a moved line or a changed count is the same failure


def _names_failure(described: str, words: set[str]) -> bool:
    path = described.split(":", 1)[0].lower()
    tests = [t.lower() for t in re.findall(r"\btest_?(\w+)", described)]
    return path in words or any(f"test_{name}" in words or name in words for name in tests)
