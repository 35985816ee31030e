"""Running an eval: every task once per variant and repeat, each a normal minion run in a
fresh copy of the task's repo, judged in the sandbox, its result appended to the out dir's
``results.jsonl`` as soon as it is known (so ``--resume`` skips it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from ..config import load_settings
from ..context import Anchor
from ..engine.create import RunRequest, create_run, executed_here
from ..engine.execute import execute_run
from ..errors import MinionError
from ..git import git
from ..lsp.delegation import Delegation, task_and_anchor
from ..runs.model import RunRecord, Status
from ..runs.store import RunStore
from .judge import run_judge
from .suite import Task, expand_model

RESULTS = "results.jsonl"
IDENTITY = {"GIT_AUTHOR_NAME": "minion eval", "GIT_AUTHOR_EMAIL": "eval@minion.invalid",
            "GIT_COMMITTER_NAME": "minion eval", "GIT_COMMITTER_EMAIL": "eval@minion.invalid"}
SETUP_OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class Variant:
    blueprint: str | None  # None: the configured default (`todo` for a TODO task, as `minion todo`)
    model: str | None  # None: the configured default; ``{task}`` is the task's folder

    @property
    def label(self) -> str:
        return f"{self.blueprint or 'default'} · {self.model or 'default model'}"


def variants_of(blueprints: Sequence[str], models: Sequence[str]) -> list[Variant]:
    """Every blueprint with every model, in the order given (the first is the baseline)."""
    bps: list[str | None] = [*blueprints] or [None]
    specs: list[str | None] = [*models] or [None]
    return [Variant(b, m) for b in bps for m in specs]


@dataclass
class Plan:
    suite: Path
    tasks: list[Task]
    variants: list[Variant]
    repeat: int
    out: Path
    max_parallel: int = 1

    def trials(self) -> list[tuple[Task, Variant, int]]:
        return [(t, v, r) for r in range(self.repeat) for t in self.tasks for v in self.variants]


def trial_key(task: str, variant: str, repeat: int) -> str:
    return f"{task}\t{variant}\t{repeat}"


def read_results(out: Path) -> list[dict[str, Any]]:
    """The trials finished so far; a line cut short by a crash is ignored."""
    path = out / RESULTS
    results = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return results


@dataclass
class Eval:
    """One eval in progress: ``stop()`` (on SIGINT) cancels the runs at work and starts no
    more; the interrupted trials are not recorded, so a resumed eval runs them again."""

    plan: Plan
    store: RunStore = field(default_factory=RunStore)
    on_result: Callable[[dict[str, Any]], None] = lambda result: None
    stopping: bool = False
    active: set[str] = field(default_factory=set)  # run ids

    def stop(self) -> None:
        self.stopping = True
        for run_id in list(self.active):
            self.store.request_cancel(run_id)

    async def run(self, *, resume: bool) -> list[dict[str, Any]]:
        plan = self.plan
        plan.out.mkdir(parents=True, exist_ok=True)
        done = read_results(plan.out)
        if done and not resume:
            raise MinionError(f"{plan.out} already holds results of an eval: add --resume to finish it, "
                              "or give another --out")
        finished = {trial_key(r["task"], r["variant"], r["repeat"]) for r in done}
        todo = [t for t in plan.trials() if trial_key(t[0].name, t[1].label, t[2]) not in finished]
        gate = asyncio.Semaphore(plan.max_parallel)
        lock = asyncio.Lock()
        results = list(done)

        async def one(task: Task, variant: Variant, repeat: int) -> None:
            async with gate:
                if self.stopping:
                    return
                result = await self.trial(task, variant, repeat)
            if result is None:  # interrupted: not a result
                return
            async with lock:
                with (plan.out / RESULTS).open("a") as f:
                    f.write(json.dumps(result) + "\n")
                results.append(result)
            self.on_result(result)

        await asyncio.gather(*(one(*t) for t in todo))
        order = {trial_key(t.name, v.label, r): i for i, (t, v, r) in enumerate(plan.trials())}
        return sorted((r for r in results if trial_key(r["task"], r["variant"], r["repeat"]) in order),
                      key=lambda r: order[trial_key(r["task"], r["variant"], r["repeat"])])

    async def trial(self, task: Task, variant: Variant, repeat: int) -> dict[str, Any] | None:
        """One task × variant × repeat, to its result; None when the eval was interrupted."""
        number = self.plan.variants.index(variant) + 1
        workdir = self.plan.out / "work" / f"{task.name}-v{number}-r{repeat}"
        shutil.rmtree(workdir, ignore_errors=True)  # a trial interrupted before: start afresh
        workdir.mkdir(parents=True)
        result: dict[str, Any] = {
            "task": task.name, "variant": variant.label, "blueprint": variant.blueprint, "repeat": repeat,
            "model": None, "outcome": "error", "error": None, "status": None, "run_id": None, "branch": None,
            "head": None, "repo": None, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
            "cache_write_tokens": 0, "cache_read_tokens": 0, "turns": 0, "wall_s": 0.0, "judge": None,
            "instance_id": task.instance_id, "patch": None,
        }
        try:
            repo = await asyncio.to_thread(fresh_repo, task, workdir / "repo")
            result["repo"] = str(repo)
            if task.setup:
                failed = await asyncio.to_thread(run_setup, task, repo)
                if failed:
                    result["error"] = failed
                    return result
            if self.stopping:
                return None
            request = build_request(task, variant, repo)
            result["model"] = request.model
            record = await asyncio.to_thread(create_run, executed_here(request), self.store)
            self.active.add(record.id)
            if self.stopping:  # interrupted while the run was being made: it stops at once
                self.store.request_cancel(record.id)
            started = time.monotonic()
            try:
                final = await execute_run(record.id, self.store)
            finally:
                self.active.discard(record.id)
            result["wall_s"] = round(time.monotonic() - started, 3)
            if self.stopping and final.status == Status.CANCELLED:
                return None
            _add_run(result, final)
            commit = final.head or final.base or "HEAD"
            verdict = await run_judge(task, repo, commit, final.settings, workdir)
            result["judge"] = {"exit_code": verdict.exit_code, "output": verdict.output,
                               "duration_s": round(verdict.duration_s, 3), "reason": verdict.reason}
            result["outcome"] = verdict.outcome
            result["error"] = verdict.reason or None
            if final.base and final.head:
                result["patch"] = git("diff", final.base, final.head, cwd=repo) + "\n"
        except MinionError as e:
            result["error"] = f"{type(e).__name__}: {e}"
        except Exception as e:  # the harness's own trouble is this trial's error, not the eval's end
            result["error"] = f"{type(e).__name__}: {e}"
        return result


def _add_run(result: dict[str, Any], final: RunRecord) -> None:
    usage = final.usage
    result.update(status=final.status.value, run_id=final.id, branch=final.branch if final.files else None,
                  head=final.head, cost_usd=usage.cost_usd, input_tokens=usage.input_tokens,
                  output_tokens=usage.output_tokens, cache_write_tokens=usage.cache_write_tokens,
                  cache_read_tokens=usage.cache_read_tokens, turns=final.turns)


def fresh_repo(task: Task, dest: Path) -> Path:
    """A new git repository of the task's repo: its folder copied and committed, or its
    bundle cloned at ``ref``. Every trial gets its own: runs never share a repo."""
    if task.is_bundle:
        git("clone", "-q", "--no-checkout", str(task.repo), str(dest), cwd=dest.parent)
        ref = task.ref or "HEAD"
        commit = (git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=dest, check=False)
                  or git("rev-parse", "--verify", f"origin/{ref}^{{commit}}", cwd=dest))
        git("checkout", "-q", "-B", "main", commit, cwd=dest)
        git("remote", "remove", "origin", cwd=dest)  # the trial's repo stands alone
        return dest
    shutil.copytree(task.repo, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", f"task {task.name}", cwd=dest,
        env=IDENTITY)
    return dest


def run_setup(task: Task, repo: Path) -> str | None:
    """Run the task's setup in its repo (on the host: it may need to fetch what the task
    needs); what went wrong, or None."""
    try:
        done = subprocess.run(["bash", "-c", task.setup or ""], cwd=repo, capture_output=True, text=True,
                              timeout=task.timeout)
    except subprocess.TimeoutExpired:
        return f"setup timed out after {task.timeout:g}s"
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-SETUP_OUTPUT_TAIL:]
        return f"setup failed (exit {done.returncode}): {output.strip()}"
    return None


def build_request(task: Task, variant: Variant, repo: Path) -> RunRequest:
    """The run request of a trial: the trigger becomes a task and an anchor the way the
    language server makes them (lsp/delegation.py), so all of minion's ways in are measured."""
    model = task.model or (expand_model(variant.model, task.folder) if variant.model else None)
    flags = {**task.settings, "max_wall_seconds": task.settings.get("max_wall_seconds", task.timeout)}
    text, anchor = task_and_anchor_of(task, repo, load_settings(repo, flags=flags).todo_patterns)
    blueprint = variant.blueprint or ("todo" if task.trigger.kind == "todo" else None)
    return RunRequest(task=text, repo=repo, blueprint=blueprint, model=model, anchor=anchor, flags=flags)


def task_and_anchor_of(task: Task, repo: Path, todo_patterns: list[str]) -> tuple[str, Anchor | None]:
    trigger = task.trigger
    if trigger.kind == "instruction":
        return trigger.instruction or "", None
    rel = trigger.path or ""
    try:
        source = (repo / rel).read_text()
    except OSError as e:
        raise MinionError(f"task {task.name}: cannot read {rel}: {e}") from e
    uri = (repo / rel).as_uri()
    first = types.Position(trigger.start_line - 1, 0)
    if trigger.kind == "selection":  # to the start of the line after: the whole last line
        selected = types.Range(first, types.Position(trigger.end_line, 0))
    else:
        selected = types.Range(first, first)
    diagnostic = ({"message": trigger.message, "source": trigger.source, "code": trigger.code}
                  if trigger.kind == "diagnostic" else None)
    delegation = Delegation(uri=uri, range=selected, kind=trigger.kind, instruction=trigger.instruction,
                            diagnostic=diagnostic)
    return task_and_anchor(delegation, TextDocument(uri, source=source), rel, todo_patterns)
