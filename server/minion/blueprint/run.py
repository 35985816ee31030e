"""The run context a blueprint receives. Every call through it is a recorded node.

Nodes are checkpoints. When a run resumes, the blueprint runs again from the top: each
node that finished before is *replayed* from its stored result (restoring the run's state,
such as the conversation) instead of running again, until the first node that did not
finish. From there on, everything runs for real.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

from ..agent import prompt as prompts
from ..agent.loop import AgentOutcome, Caps, RunBudget, run_agent
from ..agent.models import Model, ScriptedModel
from ..agent.tools import Toolset
from ..agent.usage import Usage, price_per_mtok
from ..config import Settings
from ..context import Anchor, load_rules, render_anchor
from ..git import git
from ..runs.sensitive import forbidden_by_path
from ..runs.events import EventLog
from ..runs.model import CheckResult, NodeRecord, Status
from ..runs.store import RunStore
from ..sandbox import Sandbox
from ..snapshot import FlaggedFile, Snapshot, commit_result, guard_preview, put_back_changes
from .baseline import Baseline, brought, judge
from .repo_map import repo_map as build_map
from .checks import detect_checks
from .failures import parse_failures, summary_line
from .python_env import PythonEnv

T = TypeVar("T")


class StopRun(Exception):
    """Ends the run early with a status (a cap, stuck, refused…); work so far is committed."""

    def __init__(self, status: Status, summary: str):
        super().__init__(summary)
        self.status = status
        self.summary = summary


@dataclass
class NodeKind(Generic[T]):
    """How a node's result is summarised, checkpointed and restored on replay."""

    kind: str  # step | check | agent
    summarize: Callable[[T], tuple[str, str]]  # result -> (status, summary)
    save: Callable[[T], Any] = lambda value: value  # result -> JSON
    load: Callable[[Any], T] = lambda saved: saved  # JSON -> result, restoring run state


def _replayable(node: NodeRecord) -> bool:
    """Finished normally: an ok node, or a check that ran and failed."""
    return node.ended_at is not None and (node.status == "ok" or (node.kind == "check" and node.status == "failed"))


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
        python: PythonEnv,
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
        self.python = python
        self.model = model
        self.store = store
        self.events = events
        self.baseline = Baseline(snapshot, sandbox, python, list(settings.exclude), events.emit)
        self.toolset = Toolset(self.repo_path, self.worktree, sandbox, settings.command_timeout,
                               left_out=lambda: [r.describe() for r in self.left_out()])
        # What the run has spent, in every attempt: a resumed run does not start from zero.
        spent = store.get(run_id)
        self.budget = RunBudget(turns=spent.turns, usage=spent.usage)
        self._script_position = 0  # scripted replies consumed by the replayed agent nodes
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
        self.agent_summary = ""  # what the agent last said it did
        self.last_checks: list[CheckResult] | None = None
        self.head: str | None = None
        self.committed = False
        self.refused: list[FlaggedFile] = []  # what the last commit left out
        self._seq = 0
        # Checkpoints of an earlier attempt, replayed until the first unfinished node.
        self._checkpoints = {n.seq: n for n in store.nodes(run_id)}

    # the node machinery

    async def node(self, name: str, kind: NodeKind[T], body: Callable[[], Awaitable[T]]) -> T:
        """Run ``body`` as a recorded node, or replay it from its checkpoint."""
        seq = self._seq
        self._seq += 1
        checkpoint = self._checkpoints.get(seq)
        if checkpoint and checkpoint.name == name and checkpoint.kind == kind.kind and _replayable(checkpoint):
            self.events.emit("node.replayed", seq=seq, name=name, kind=kind.kind, status=checkpoint.status)
            return kind.load(checkpoint.result)
        if self._checkpoints:
            self.store.delete_nodes_from(self.id, seq)  # the rest of the earlier attempt is void
            self._checkpoints = {}

        node = NodeRecord(self.id, seq, name, kind.kind, "running", time.time())
        self.store.start_node(node)
        self.events.emit("node.start", seq=seq, name=name, kind=kind.kind)
        status, summary = "failed", ""
        try:
            result = await body()
            status, summary = kind.summarize(result)
            node.result = kind.save(result)
            if isinstance(result, AgentOutcome):
                node.usage = result.usage
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
            self.store.finish_node(node)
            self.events.emit(
                "node.end", seq=seq, name=name, kind=kind.kind, status=status, summary=summary,
                duration_s=round(node.ended_at - node.started_at, 3),
            )

    async def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A deterministic host-side step: a plain or async function with a JSON-able result."""

        async def body():
            value = fn(*args)
            return await value if inspect.isawaitable(value) else value

        return await self.node(name, NodeKind("step", lambda _: ("ok", "")), body)

    # the building blocks of blueprints

    async def gather_context(self) -> None:
        """Rules, repo map and anchor: the stable prompt prefix and the task's pointer."""

        async def body():
            anchor_file = self.worktree / self.anchor.path if self.anchor and self.anchor.path else None
            rules = load_rules(self.worktree, anchor_file)
            for warning in rules.warnings:
                self.events.emit("log", level="warning", message=warning)
            anchor_path = self.anchor.path if self.anchor else None
            repo_map = await asyncio.to_thread(build_map, self.repo_path, self.snapshot.commit, self.settings,
                                               self.task, anchor_path)
            anchor_text = render_anchor(self.worktree, self.anchor) if self.anchor else ""
            return {
                "system": prompts.system_blocks(self.repo_path, rules.render(), repo_map),
                "anchor_text": anchor_text,
                "rules": len(rules.files),
                "repo_map_chars": len(repo_map),
            }

        def load(saved: dict[str, Any]) -> dict[str, Any]:
            self.system, self.anchor_text = saved["system"], saved["anchor_text"]
            return saved

        kind = NodeKind(
            "step", lambda r: ("ok", f"{r['rules']} rule files, repo map {r['repo_map_chars']} chars"), load=load,
        )
        load(await self.node("context", kind, body))

    def check_commands(self) -> dict[str, str]:
        if self.settings.checks is None:
            return detect_checks(self.worktree, self.python, network=self.settings.network).commands()
        return dict(self.settings.checks)

    def task_prompt(self) -> str:
        return prompts.task_prompt(self.task, self.anchor_text, self.check_commands())

    def repair_prompt(self, failed: list[CheckResult], left_out: Sequence[FlaggedFile] = ()) -> str:
        return prompts.repair_prompt(failed, [r.describe() for r in left_out], self.last_checks or [])

    def left_out(self, *, forbid_sensitive: bool = False) -> list[FlaggedFile]:
        """What the commit guard would leave out of the branch if the run committed now."""
        forbid = forbidden_by_path(self.settings.sensitive_paths) if forbid_sensitive else None
        return guard_preview(self.snapshot, max_file_mb=self.settings.max_commit_file_mb, forbid=forbid)

    async def agent(self, name: str, prompt: str) -> AgentOutcome:
        """An agent loop that continues the run's conversation with ``prompt``."""
        if self.system is None:
            self.system = prompts.system_blocks(self.repo_path, "", "")
        if self.last_checks is None and self.settings.baseline:  # beside the agent's first node
            self.baseline.start(self.check_commands(), self._run_checks)

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
                emit=lambda type, **data: self._agent_event(name, type, data),
            )

        def summarize(outcome: AgentOutcome) -> tuple[str, str]:
            first_line = outcome.summary.strip().splitlines()[0] if outcome.summary.strip() else ""
            return ("ok" if outcome.status == "done" else outcome.status), first_line[:200]

        def save(outcome: AgentOutcome) -> dict[str, Any]:
            return {"status": outcome.status, "summary": outcome.summary, "turns": outcome.turns,
                    "edits": outcome.edits, "usage": outcome.usage.to_dict(), "messages": self.messages}

        def load(saved: dict[str, Any]) -> AgentOutcome:
            usage = Usage.from_dict(saved["usage"])
            self.messages[:] = saved["messages"]  # the spend is in the budget already
            self._script_position += saved["turns"]
            if isinstance(self.model, ScriptedModel):
                self.model.position = self._script_position  # the script resumes where the run was
            return AgentOutcome(saved["status"], saved["summary"], saved["turns"], saved["edits"], usage)

        outcome = await self.node(name, NodeKind("agent", summarize, save, load), body)
        self.agent_summary = outcome.summary.strip()
        if outcome.status != "done":
            raise StopRun(Status(outcome.status), outcome.summary)
        return outcome

    async def checks(self, *, baseline: bool | None = None, keep_changes: bool = False) -> list[CheckResult]:
        """Run every check, each as its own node. With ``baseline`` (default: the setting), a
        failure counts only if the run brought it (see baseline.py). A check reports, it does
        not edit: files it changes are put back and listed in its ``changed``, unless
        ``keep_changes``."""
        baseline = self.settings.baseline if baseline is None else baseline
        commands = self.check_commands()
        if baseline:
            self.baseline.start(commands, self._run_checks)
        kind = NodeKind("check", lambda r: ("ok" if r.ok else "failed", describe_check(r, str(self.repo_path))),
                        save=CheckResult.to_dict, load=lambda saved: CheckResult(**saved))
        results = []
        for name, command in commands.items():

            async def body(command=command, name=name):
                if keep_changes:
                    result = await self._run_check(self.sandbox, name, command)
                else:
                    with put_back_changes(self.worktree, self.settings.max_commit_file_mb) as changed:
                        result = await self._run_check(self.sandbox, name, command)
                    result.changed = changed
                before = await self.baseline.results() if baseline else None
                return judge(result, (before or {}).get(name), str(self.repo_path), f"{self.task}\n{self.anchor_text}")

            results.append(await self.node(f"check: {name}", kind, body))
        self.last_checks = results
        return results

    async def _run_check(self, sandbox: Sandbox, name: str, command: str) -> CheckResult:
        started = time.monotonic()
        out = await sandbox.run(command, timeout_s=self.settings.command_timeout)
        failures = [f.to_dict() for f in parse_failures(out.output, str(self.repo_path))] if out.exit_code else []
        return CheckResult(name, command, out.exit_code == 0 and not out.timed_out, out.exit_code, out.output,
                           round(time.monotonic() - started, 3), out.timed_out, failures)

    async def _run_checks(self, sandbox: Sandbox, commands: dict[str, str]) -> list[CheckResult]:
        return [await self._run_check(sandbox, name, command) for name, command in commands.items()]

    async def failing_checks(self, *, baseline: bool | None = None) -> list[CheckResult]:
        """The checks whose failure is the run's doing (all failed ones without ``baseline``)."""
        return [c for c in await self.checks(baseline=baseline) if c.counts]

    async def check_and_repair(self, rounds: int | None = None) -> list[CheckResult]:
        """Run the checks; while some fail, or the commit guard would leave files out, let the
        agent repair (at most ``rounds`` times)."""
        failed = await self.failing_checks()
        for attempt in range(1, (self.settings.repair_rounds if rounds is None else rounds) + 1):
            left_out = self.left_out()
            if not failed and not left_out:
                break
            await self.agent(f"repair {attempt}", self.repair_prompt(failed, left_out))
            failed = await self.failing_checks()
        return failed

    async def commit(self, message: str | None = None, *, forbid_sensitive: bool = False) -> str | None:
        """Host side: commit the worktree to the run's branch (git is never written in the sandbox).
        What the commit guard leaves out is in ``self.refused`` (the last commit's say). With
        ``forbid_sensitive``, changes to sensitive paths (runs/sensitive.py) are left out too."""
        message = message or self.commit_message()

        async def body():
            # No change leaves the branch where it is (at S, or at an earlier attempt's commit).
            refused: list[FlaggedFile] = []
            forbid = forbidden_by_path(self.settings.sensitive_paths) if forbid_sensitive else None
            commit_result(self.snapshot, branch=self.branch, message=message,
                          max_file_mb=self.settings.max_commit_file_mb, refused=refused, forbid=forbid)
            for refusal in refused:
                self.events.emit("commit.refused", path=refusal.path, why=refusal.why)
            sha = git("rev-parse", f"refs/heads/{self.branch}", cwd=self.repo_path)
            return {"head": sha, "refused": [asdict(r) for r in refused]}

        def load(saved: dict[str, Any] | str) -> dict[str, Any]:
            if isinstance(saved, str):  # a checkpoint from before the commit guard
                saved = {"head": saved, "refused": []}
            self.head, self.committed = saved["head"], True
            self.refused = [FlaggedFile(**r) for r in saved["refused"]]
            return saved

        kind = NodeKind("step", lambda saved: ("ok", f"{self.branch} at {saved['head'][:10]}"
                                                + (f", {len(saved['refused'])} left out" if saved["refused"] else "")),
                        load=load)
        return load(await self.node("commit", kind, body))["head"]

    def commit_message(self, status: str | None = None) -> str:
        if status is None:
            status = "failed_checks" if any(c.counts for c in self.last_checks or []) else "ok"
        title = self.task.strip().splitlines()[0][:72] if self.task.strip() else "minion run"
        checks = ""
        if self.last_checks:
            checks = "\n\nChecks:\n" + "\n".join(f"- {c.name}: {c.verdict}" for c in self.last_checks)
        one_line_task = " ".join(self.task.split())[:500]
        return (
            f"minion: {title}\n\nStatus: {status}{checks}\n\n"
            f"Minion-Run: {self.id}\nMinion-Task: {one_line_task}\n"
        )

    def _agent_event(self, node: str, type: str, data: dict[str, Any]) -> None:
        self.events.emit(type, node=node, **data)
        if type == "agent.turn":  # spend is stored as it happens, so no crash can forget it
            self.store.update(self.id, usage=self.usage, turns=self.budget.turns)

    @property
    def usage(self) -> Usage:
        return self.budget.usage


def describe_check(result: CheckResult, repo: str) -> str:
    """One line: passed, or the first error it names, and whether it was already failing."""
    if result.ok:
        return "passed"
    if result.preexisting:
        return f"exit {result.exit_code}: {summary_line(result.output, repo, result.exit_code)} (already failing before this run)"
    first = next(iter(brought(result, repo)), None) if result.baseline else None
    return f"exit {result.exit_code}: {first or summary_line(result.output, repo, result.exit_code)}"
