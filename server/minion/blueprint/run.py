"""The run context a blueprint receives. Every call through it is a recorded node."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from ..agent import prompt as prompts
from ..agent.loop import AgentOutcome, Caps, RunBudget, run_agent
from ..agent.models import Model
from ..agent.tools import Toolset
from ..agent.usage import Usage, price_per_mtok
from ..config import Settings
from ..context import Anchor, build_repo_map, load_rules, render_anchor
from ..runs.store import NodeRecord, RunStore, Status
from ..sandbox import Sandbox
from ..snapshot import Snapshot, commit_result
from ..state import state_dir
from .checks import CheckResult, detect_checks
from .events import EventLog

T = TypeVar("T")


class StopRun(Exception):
    """Ends the run early with a status (a cap, stuck, refused…); work so far is committed."""

    def __init__(self, status: Status, summary: str):
        super().__init__(summary)
        self.status = status
        self.summary = summary


class Run:
    def __init__(
        self,
        *,
        run_id: str,
        task: str,
        anchor: Anchor | None,
        branch: str,
        snapshot: Snapshot,
        settings: Settings,
        sandbox: Sandbox,
        model: Model,
        store: RunStore,
        events: EventLog,
    ):
        self.id = run_id
        self.task = task
        self.anchor = anchor
        self.branch = branch
        self.snapshot = snapshot
        self.settings = settings
        self.repo_path: Path = snapshot.repo_root
        self.worktree: Path = snapshot.worktree
        self.sandbox = sandbox
        self.model = model
        self.store = store
        self.events = events
        self.toolset = Toolset(self.repo_path, self.worktree, sandbox, settings.command_timeout)
        self.budget = RunBudget()
        self.caps = Caps(
            max_turns=settings.max_turns,
            max_input_tokens=settings.max_input_tokens,
            max_output_tokens=settings.max_output_tokens,
            max_cost_usd=settings.max_cost_usd,
            deadline=time.monotonic() + settings.max_wall_seconds,
        )
        self.prices = price_per_mtok(model.name.split(":")[-1], settings.prices)
        self.messages: list[dict[str, Any]] = []
        self.system: list[dict[str, Any]] | None = None
        self.anchor_text = ""
        self.last_checks: list[CheckResult] | None = None
        self.head: str | None = None
        self.committed = False
        self._seq = 0

    # the node machinery

    async def node(self, name: str, kind: str, body: Callable[[], Awaitable[T]], summarize: Callable[[T], tuple[str, str]]) -> T:
        """Run ``body`` as a recorded node; ``summarize(result)`` gives (status, summary)."""
        node = NodeRecord(self.id, self._seq, name, kind, "running", time.time())
        self._seq += 1
        self.store.start_node(node)
        self.events.emit("node.start", seq=node.seq, name=name, kind=kind)
        status, summary, result = "failed", "", None
        try:
            result = await body()
            status, summary = summarize(result)
            return result
        except StopRun as stop:
            status, summary = stop.status.value, stop.summary
            raise
        except asyncio.CancelledError:
            status, summary = "cancelled", "cancelled"
            raise
        except Exception as e:
            status, summary = "failed", f"{type(e).__name__}: {e}"
            raise
        finally:
            node.status, node.summary, node.ended_at = status, summary, time.time()
            node.result = _jsonable(result)
            if isinstance(result, AgentOutcome):
                node.usage = result.usage.to_dict()
            self.store.finish_node(node)
            self.events.emit(
                "node.end", seq=node.seq, name=name, kind=kind, status=status, summary=summary,
                duration_s=round(node.ended_at - node.started_at, 3),
            )

    async def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A deterministic host-side step: a plain or async function."""

        async def body():
            value = fn(*args)
            return await value if inspect.isawaitable(value) else value

        return await self.node(name, "step", body, lambda _: ("ok", ""))

    # the building blocks of blueprints

    async def gather_context(self) -> None:
        """Rules, repo map and anchor: the stable prompt prefix and the task's pointer."""

        async def body():
            anchor_file = self.worktree / self.anchor.path if self.anchor and self.anchor.path else None
            rules = load_rules(self.worktree, anchor_file)
            for warning in rules.warnings:
                self.events.emit("log", level="warning", message=warning)
            repo_map = build_repo_map(
                self.worktree,
                focus_files=[self.anchor.path] if self.anchor and self.anchor.path else [],
                focus_idents=_identifiers(self.task),
                budget_tokens=self.settings.repo_map_tokens,
                cache=state_dir() / "cache" / "tags.sqlite",
            ) if self.settings.repo_map_tokens else ""
            self.system = prompts.system_blocks(self.repo_path, rules.render(), repo_map)
            self.anchor_text = render_anchor(self.worktree, self.anchor) if self.anchor else ""
            return {"rules": len(rules.files), "repo_map_chars": len(repo_map)}

        await self.node("context", "step", body, lambda r: ("ok", f"{r['rules']} rule files, repo map {r['repo_map_chars']} chars"))

    def check_commands(self) -> dict[str, str]:
        if self.settings.checks is None:
            return detect_checks(self.worktree, self.repo_path)
        return dict(self.settings.checks)

    def task_prompt(self) -> str:
        return prompts.task_prompt(self.task, self.anchor_text, self.check_commands())

    def repair_prompt(self, failed: list[CheckResult]) -> str:
        return prompts.repair_prompt(failed)

    async def agent(self, name: str, prompt: str) -> AgentOutcome:
        if self.system is None:
            self.system = prompts.system_blocks(self.repo_path, "", "")

        async def body():
            return await run_agent(
                self.model,
                self.toolset,
                system=self.system,
                messages=self.messages,
                prompt=prompt,
                caps=self.caps,
                budget=self.budget,
                price=lambda usage: usage.priced(self.prices),
                max_tokens=self.settings.max_tokens,
                emit=lambda type, **data: self.events.emit(type, node=name, **data),
            )

        def summarize(outcome: AgentOutcome) -> tuple[str, str]:
            first_line = outcome.summary.strip().splitlines()[0] if outcome.summary.strip() else ""
            return ("ok" if outcome.status == "done" else outcome.status), first_line[:200]

        outcome = await self.node(name, "agent", body, summarize)
        if outcome.status != "done":
            raise StopRun(Status(outcome.status) if outcome.status in Status._value2member_map_ else Status.FAILED, outcome.summary)
        return outcome

    async def checks(self) -> list[CheckResult]:
        """Run every check, each as its own node."""
        results = []
        for name, command in self.check_commands().items():

            async def body(command=command, name=name):
                started = time.monotonic()
                out = await self.sandbox.run(command, timeout_s=self.settings.command_timeout)
                return CheckResult(name, command, out.exit_code == 0 and not out.timed_out, out.exit_code, out.output,
                                   round(time.monotonic() - started, 3), out.timed_out)

            def summarize(r: CheckResult) -> tuple[str, str]:
                tail = r.output.strip().splitlines()[-1:] or [""]
                return ("ok" if r.ok else "failed"), ("passed" if r.ok else f"exit {r.exit_code}: {tail[0][:160]}")

            results.append(await self.node(f"check: {name}", "check", body, summarize))
        self.last_checks = results
        return results

    async def failing_checks(self) -> list[CheckResult]:
        return [c for c in await self.checks() if not c.ok]

    async def commit(self, message: str | None = None) -> str | None:
        """Host side: commit the worktree to the run's branch (git is never written in the sandbox)."""
        message = message or self.commit_message()

        async def body():
            self.head = commit_result(self.snapshot, branch=self.branch, message=message) or self.head
            self.committed = True
            return self.head

        return await self.node("commit", "step", body, lambda sha: ("ok", f"{self.branch} at {sha[:10]}" if sha else "no changes"))

    def commit_message(self, status: str | None = None) -> str:
        if status is None:
            status = "failed_checks" if any(not c.ok for c in self.last_checks or []) else "ok"
        title = self.task.strip().splitlines()[0][:72] if self.task.strip() else "minion run"
        checks = ""
        if self.last_checks:
            checks = "\n\nChecks:\n" + "\n".join(f"- {c.name}: {'passed' if c.ok else 'FAILED'}" for c in self.last_checks)
        one_line_task = " ".join(self.task.split())[:500]
        return (
            f"minion: {title}\n\nStatus: {status}{checks}\n\n"
            f"Minion-Run: {self.id}\nMinion-Task: {one_line_task}\n"
        )

    @property
    def usage(self) -> Usage:
        return self.budget.usage


def _identifiers(text: str) -> list[str]:
    return sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", text)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (CheckResult,)):
        return value.to_dict()
    if isinstance(value, AgentOutcome):
        return {"status": value.status, "summary": value.summary, "turns": value.turns, "edits": value.edits}
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return repr(value)
