"""The engine behind a blueprint's `Run`: the run's sandbox, model, conversation, budget,
store and event log, and the building blocks (context, agent loops, checks, commit) as
recorded nodes (nodes.py).

Blueprint authors never see this class: they get `Run` (run.py), a small facade over it.
`engine/execute.py` builds a Runtime per run and drives the blueprint with its facade.

Replay (see nodes.py) needs the blueprint's decisions to be the same on resume. The
building blocks keep to that themselves where they read the worktree outside a node: the
checks a batch runs are saved with its check nodes (a resumed run runs the checks it ran,
whatever detection says of the worktree now), and whether a repair round ran because the
commit guard would leave files out is read off the record while replaying.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..agent import prompt as prompts
from ..agent.loop import AgentOutcome, Caps, RunBudget, run_agent
from ..agent.models import Model, ScriptedModel
from ..agent.tools import Tools, Toolset
from ..agent.usage import Usage, price_per_mtok
from ..config import Settings
from ..context import Anchor, load_rules, render_anchor
from ..git import git
from ..mcp_servers.config import load_mcp_config
from ..runs.events import EventLog
from ..runs.model import CheckResult, Status
from ..runs.sensitive import forbidden_by_path
from ..runs.store import RunStore
from ..sandbox import Sandbox
from ..snapshot import FlaggedFile, Snapshot, commit_result, guard_preview, put_back_changes
from ..state import logs_dir
from .baseline import Baseline, brought, judge
from .checks import detect_checks
from .failures import parse_failures, summary_line
from .nodes import NodeKind, Nodes, StopRun
from .python_env import PythonEnv
from .repo_map import repo_map as build_map

if TYPE_CHECKING:  # the mcp SDK is an optional extra: imported when a run has servers
    from ..mcp_servers.toolbox import McpToolbox

T = TypeVar("T")
LogLevel = Literal["info", "warning", "error"]


class Runtime:
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
        earlier: str = "",
    ):
        self.id = run_id
        self.task = task
        self.earlier = earlier  # a revising run: what the earlier rounds did (engine.create)
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
        self.nodes = Nodes(run_id, store, events)
        self._mcp: McpToolbox | None = None  # the run's MCP servers, started by the first node that needs them
        self._mcp_read = False  # the MCP config is read (and its warnings said) once per run

    # the node machinery

    async def node(self, name: str, kind: NodeKind[T], body: Callable[[], Awaitable[T]], *,
                   closing: bool = False) -> T:
        """Run ``body`` as a recorded node, or replay it from its checkpoint."""
        return await self.nodes.run(name, kind, body, closing=closing)

    async def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A deterministic host-side step: a plain or async function with a JSON result.

        The result is what JSON gives back (a tuple comes back a list), live as on replay."""

        async def body() -> Any:
            value = fn(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
            try:
                return json.loads(json.dumps(value))
            except (TypeError, ValueError):
                raise TypeError(
                    f"step '{name}' returned {type(value).__name__}, which JSON cannot hold: a step's result is "
                    "saved as JSON for a resumed run to replay; return None, a bool, a number, a str, or lists "
                    "and dicts of them") from None

        return await self.node(name, NodeKind("step", lambda _: ("ok", "")), body)

    def log(self, message: str, level: LogLevel = "info") -> None:
        self.events.emit("log", level=level, message=message)

    # the building blocks of blueprints

    async def gather_context(self) -> None:
        """Rules, repo map and anchor: the stable prompt prefix and the task's pointer."""

        async def body() -> dict[str, Any]:
            anchor_file = self.worktree / self.anchor.path if self.anchor and self.anchor.path else None
            rules = load_rules(self.worktree, anchor_file)
            for warning in rules.warnings:
                self.log(warning, "warning")
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

        kind: NodeKind[dict[str, Any]] = NodeKind(
            "step", lambda r: ("ok", f"{r['rules']} rule files, repo map {r['repo_map_chars']} chars"), load=load,
        )
        load(await self.node("context", kind, body))

    def check_commands(self) -> dict[str, str]:
        if self.settings.checks is None:
            return detect_checks(self.worktree, self.python, network=self.settings.network).commands()
        return dict(self.settings.checks)

    def task_prompt(self) -> str:
        prompt = prompts.task_prompt(self.task, self.anchor_text, self.check_commands())
        if not self.earlier.strip():
            return prompt
        return (f"This continues earlier work on this branch; its changes are already in the files.\n\n"
                f"{self.earlier.strip()}\n\nNow the feedback on that work, to address on top of it.\n\n{prompt}")

    def repair_prompt(self, failed: Sequence[CheckResult], left_out: Sequence[FlaggedFile] = ()) -> str:
        return prompts.repair_prompt(list(failed), [r.describe() for r in left_out], self.last_checks or [])

    def left_out(self, *, forbid_sensitive: bool = False) -> list[FlaggedFile]:
        """What the commit guard would leave out of the branch if the run committed now."""
        forbid = forbidden_by_path(self.settings.sensitive_paths) if forbid_sensitive else None
        return guard_preview(self.snapshot, max_file_mb=self.settings.max_commit_file_mb, forbid=forbid)

    async def agent(self, name: str, prompt: str, tools: Sequence[str] = ()) -> AgentOutcome:
        """An agent loop that continues the run's conversation with ``prompt``; ``tools``:
        MCP tools this node may use beyond what the servers' entries allow (full names or
        globs, ``mcp__<server>__<tool>``)."""
        if self.system is None:
            self.system = prompts.system_blocks(self.repo_path, "", "")
        system = self.system
        if self.last_checks is None and self.settings.baseline:  # beside the agent's first node
            self.baseline.start(self.check_commands(), self._run_checks)

        async def body() -> AgentOutcome:
            resume = load(self.nodes.carried) if self.nodes.carried else None
            if resume is not None:
                self.log(f"the agent continues after turn {resume.turns} of this node, where an earlier "
                         "worker's attempt was cut off")
            return await run_agent(
                self.model,
                await self._tools_for(tuple(tools)),
                system=system,
                messages=self.messages,
                prompt=prompt,
                caps=self.caps,
                budget=self.budget,
                price=lambda usage: usage.priced(self.prices),
                max_tokens=self.settings.max_tokens,
                emit=lambda type, **data: self._agent_event(name, type, data),
                resume=resume,
                on_turn=lambda outcome: self.nodes.turn_done(save(outcome), outcome.usage),
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

    async def _tools_for(self, node_tools: tuple[str, ...]) -> Tools:
        """The built-in tools, with the MCP tools the node may use when there are any."""
        if not self._mcp_read:
            self._mcp_read = True
            config = load_mcp_config(self.repo_path)
            if not config.servers:
                for warning in config.warnings:
                    self.log(warning, "warning")
                return self.toolset
            try:
                from ..mcp_servers.toolbox import McpToolbox
            except ImportError:  # the optional extra
                self.log("MCP servers are configured, but the mcp package is not installed: "
                         "pip install -e '.[mcp]' in the minion checkout (make setup does)", "warning")
                return self.toolset
            self._mcp = McpToolbox(
                config, cwd=self.worktree,
                launch=None if self.settings.sandbox == "none" else self.sandbox.server_command,
                log_dir=logs_dir() / f"{self.id}-mcp", timeout=self.settings.mcp_timeout,
                output_bytes=self.sandbox.policy.limits.output_bytes, emit=self.events.emit)
        if self._mcp is None:
            return self.toolset
        from ..mcp_servers.toolbox import NodeTools

        return NodeTools(self.toolset, self._mcp, node_tools, await self._mcp.definitions(node_tools))

    async def close(self) -> None:
        """Stop what the run started beside its nodes: the baseline checks, the MCP servers."""
        await self.baseline.stop()
        if self._mcp is not None:
            await self._mcp.close()

    def _recorded_batch(self) -> dict[str, str] | None:
        """The checks of the batch the earlier attempt ran from here, if it recorded them."""
        recorded = self.nodes.next_checkpoint()
        if recorded is None or recorded.kind != "check" or not isinstance(recorded.result, dict):
            return None
        batch = recorded.result.get("batch")
        return {str(k): str(v) for k, v in batch.items()} if isinstance(batch, dict) else None

    async def checks(self, *, baseline: bool | None = None, keep_changes: bool = False) -> list[CheckResult]:
        """Run every check, each as its own node. With ``baseline`` (default: the setting), a
        failure counts only if the run brought it (see baseline.py). A check reports, it does
        not edit: files it changes are put back and listed in its ``changed``, unless
        ``keep_changes``."""
        baseline = self.settings.baseline if baseline is None else baseline
        recorded = self._recorded_batch()
        commands = recorded if recorded is not None else self.check_commands()
        if baseline:
            self.baseline.start(commands, self._run_checks)
        kind: NodeKind[CheckResult] = NodeKind(
            "check", lambda r: ("ok" if r.ok else "failed", describe_check(r, str(self.repo_path))),
            save=lambda r: {**r.to_dict(), "batch": commands}, load=CheckResult.from_dict)
        results = []
        for name, command in commands.items():

            async def body(command: str = command, name: str = name) -> CheckResult:
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

    async def check_and_repair(self, rounds: int | None = None, prompt: str | None = None, *,
                               name: str = "repair", baseline: bool | None = None) -> list[CheckResult]:
        """Run the checks; while some fail, or the commit guard would leave files out, let the
        agent repair (agent nodes "<name> 1", "<name> 2" …, at most ``rounds`` of them, by
        default the repair_rounds setting), each told ``prompt`` then what went wrong, and
        run the checks again. Returns the checks that still fail."""
        failed = await self.failing_checks(baseline=baseline)
        for attempt in range(1, (self.settings.repair_rounds if rounds is None else rounds) + 1):
            round_name = f"{name} {attempt}"
            left_out = self.left_out()
            repair = bool(failed or left_out)
            if not failed and (recorded := self.nodes.next_checkpoint()) is not None:
                # The commit guard's preview reads the worktree as it is now, after work this
                # resumed run replays: what the earlier attempt did here is on record.
                repair = recorded.kind == "agent" and recorded.name == round_name
            if not repair:
                break
            repair_text = self.repair_prompt(failed, left_out)
            await self.agent(round_name, f"{prompt}\n\n{repair_text}" if prompt else repair_text)
            failed = await self.failing_checks(baseline=baseline)
        return failed

    async def commit(self, message: str | None = None, *, forbid_sensitive: bool = False,
                     closing: bool = False) -> str:
        """Host side: commit the worktree to the run's branch (git is never written in the sandbox).
        What the commit guard leaves out is in ``self.refused`` (the last commit's say). With
        ``forbid_sensitive``, changes to sensitive paths (runs/sensitive.py) are left out too.
        ``closing``: the engine's commit of a run that stopped early (nodes.py)."""
        text = message or self.commit_message()

        async def body() -> dict[str, Any]:
            # No change leaves the branch where it is (at S, or at an earlier attempt's commit).
            refused: list[FlaggedFile] = []
            forbid = forbidden_by_path(self.settings.sensitive_paths) if forbid_sensitive else None
            commit_result(self.snapshot, branch=self.branch, message=text,
                          max_file_mb=self.settings.max_commit_file_mb, refused=refused, forbid=forbid)
            for refusal in refused:
                self.events.emit("commit.refused", path=refusal.path, why=refusal.why)
            sha = git("rev-parse", f"refs/heads/{self.branch}", cwd=self.repo_path)
            return {"head": sha, "refused": [asdict(r) for r in refused]}

        def load(saved: Any) -> dict[str, Any]:
            if isinstance(saved, str):  # a checkpoint from before the commit guard
                saved = {"head": saved, "refused": []}
            self.head, self.committed = saved["head"], True
            self.refused = [FlaggedFile(**r) for r in saved["refused"]]
            return dict(saved)

        kind: NodeKind[dict[str, Any]] = NodeKind(
            "step", lambda saved: ("ok", f"{self.branch} at {saved['head'][:10]}"
                                   + (f", {len(saved['refused'])} left out" if saved["refused"] else "")),
            load=load)
        return str(load(await self.node("commit", kind, body, closing=closing))["head"])

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
        summary = summary_line(result.output, repo, result.exit_code)
        return f"exit {result.exit_code}: {summary} (already failing before this run)"
    first = next(iter(brought(result, repo)), None) if result.baseline else None
    return f"exit {result.exit_code}: {first or summary_line(result.output, repo, result.exit_code)}"
