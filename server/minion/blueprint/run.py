"""`Run`: what a blueprint gets. Every call through it is a recorded node (nodes.py).

This is the whole API for blueprint authors: a few facts about the run and eleven methods.
The engine behind it (the sandbox, the model, the conversation, the budget, the store) is
`runtime.Runtime`, which blueprints do not touch.

The determinism rule: a resumed run replays its recorded nodes, so a blueprint must ask
for the same nodes in the same order when given the same node results. Decide only by
what earlier nodes returned, never by the time, randomness or files read outside a step;
to look at the worktree, do it in a step, whose result is recorded. A blueprint that
breaks the rule stops its resumed run with a `ReplayMismatch` naming both nodes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from ..agent.loop import AgentOutcome
from ..config import Settings
from ..context import Anchor
from ..runs.model import CheckResult
from ..snapshot import FlaggedFile
from .runtime import LogLevel

if TYPE_CHECKING:
    from .runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")


class StepDecorator(Protocol):
    """What ``run.step(name)`` returns: it makes a function a step (each call one node)."""

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, Awaitable[R]]: ...


class Run:
    """The run a blueprint drives: ``async def my_blueprint(run: Run) -> None``.

    Facts: ``id``, ``task``, ``anchor``, ``settings``, ``repo_path``, ``worktree``, ``branch``.
    Nodes: ``gather_context``, ``agent``, ``step``, ``checks``, ``failing_checks``,
    ``check_and_repair``, ``commit``. Helpers: ``task_prompt``, ``repair_prompt``,
    ``left_out``, ``log``.
    """

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def __repr__(self) -> str:
        return f"<Run {self.id}: {self.task[:40]!r}>"

    # facts

    @property
    def id(self) -> str:
        """The run's id (the end of its branch's name)."""
        return self._runtime.id

    @property
    def task(self) -> str:
        """What the user asked for."""
        return self._runtime.task

    @property
    def anchor(self) -> Anchor | None:
        """Where the task points: a selection, a TODO or a diagnostic (path, lines, text)."""
        return self._runtime.anchor

    @property
    def settings(self) -> Settings:
        """The run's settings: config files, editor and flags merged (``repair_rounds`` …)."""
        return self._runtime.settings

    @property
    def repo_path(self) -> Path:
        """The user's repository root: where the worktree appears inside the sandbox."""
        return self._runtime.repo_path

    @property
    def worktree(self) -> Path:
        """The run's private worktree on the host: read and write it in a step."""
        return self._runtime.worktree

    @property
    def branch(self) -> str:
        """The branch the run commits to: ``minion/<slug>-<id>``."""
        return self._runtime.branch

    # nodes

    async def gather_context(self) -> None:
        """Node ``context``: the repo's rule files, the repo map and the anchor, for the
        agent's prompt. Call it before the first ``agent``."""
        await self._runtime.gather_context()

    async def agent(self, name: str, prompt: str, *, tools: Sequence[str] = ()) -> AgentOutcome:
        """Agent node ``name``: the model works in the sandbox until it says it is done,
        continuing the run's one conversation with ``prompt``. Returns its outcome
        (``summary``, ``turns``, ``edits``, ``usage``). A cap, a stuck agent or a refusal
        ends the run there (raises `StopRun`; the work so far is committed).

        ``tools``: MCP tools this node may use beyond those the servers' entries allow
        (``mcp__<server>__<tool>``, globs too); none are allowed otherwise (docs/mcp.md)."""
        return await self._runtime.agent(name, prompt, tools)

    @overload
    def step(self, name: str, /) -> StepDecorator: ...
    @overload
    def step(self, name: str, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]: ...
    @overload
    def step(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]: ...

    def step(self, name: str, fn: Callable[..., Any] | None = None, /, *args: Any, **kwargs: Any) -> Any:
        """Step node ``name``: your own host-side code, plain or async, run once and recorded.

        ``await run.step("name", fn, *args)`` calls ``fn(*args)`` as the node. As a
        decorator, ``@run.step("name")`` makes ``fn`` a step: each ``await fn(...)`` is one
        node. The result is saved as JSON and is what a resumed run gets back instead of
        calling ``fn`` again, so it must be JSON (None, bool, numbers, str, lists, dicts; a
        tuple comes back a list). Read the worktree in a step when a decision depends on it.
        """
        runtime = self._runtime
        if fn is None:
            def decorate(f: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
                @functools.wraps(f)
                async def as_step(*a: Any, **k: Any) -> Any:
                    return await runtime.step(name, f, *a, **k)

                return as_step

            return decorate
        return runtime.step(name, fn, *args, **kwargs)

    async def checks(self, *, baseline: bool | None = None, keep_changes: bool = False) -> list[CheckResult]:
        """Check nodes ``check: <name>``, one per check (the checks setting, else detected).
        With the baseline (``baseline``, default the setting) a failure counts only when
        the run brought it (``CheckResult.counts``). Files a check changes are put back
        unless ``keep_changes``."""
        return await self._runtime.checks(baseline=baseline, keep_changes=keep_changes)

    async def failing_checks(self, *, baseline: bool | None = None) -> list[CheckResult]:
        """``checks()``, keeping the failures that count (every failure with ``baseline=False``)."""
        return await self._runtime.failing_checks(baseline=baseline)

    async def check_and_repair(self, rounds: int | None = None, prompt: str | None = None, *,
                               name: str = "repair", baseline: bool | None = None) -> list[CheckResult]:
        """The repair loop: run the checks; while some fail, or the commit guard would leave
        files out of the branch, let the agent repair (nodes ``<name> 1``, ``<name> 2`` …,
        at most ``rounds``, by default the ``repair_rounds`` setting), telling it ``prompt``
        and then what went wrong, and run the checks again. Returns what still fails."""
        return await self._runtime.check_and_repair(rounds, prompt, name=name, baseline=baseline)

    async def commit(self, message: str | None = None, *, forbid_sensitive: bool = False) -> str:
        """Step node ``commit``: the worktree onto the run's branch (host side; the commit
        guard leaves out what it must). ``forbid_sensitive`` leaves out changes to files
        that run code on the reviewer's machine too. Returns the branch's new tip. A
        blueprint that ends without committing is committed for it."""
        return await self._runtime.commit(message, forbid_sensitive=forbid_sensitive)

    # helpers (no node)

    def task_prompt(self) -> str:
        """The task, where it points (after ``gather_context``) and the checks that must pass."""
        return self._runtime.task_prompt()

    def repair_prompt(self, failed: Sequence[CheckResult], left_out: Sequence[FlaggedFile] = ()) -> str:
        """What the checks said (``failed``) and what the commit guard would leave out."""
        return self._runtime.repair_prompt(failed, left_out)

    def left_out(self, *, forbid_sensitive: bool = False) -> list[FlaggedFile]:
        """What the commit guard would leave out of the branch if the run committed now.
        It reads the worktree: decide on it inside a step (see the determinism rule)."""
        return self._runtime.left_out(forbid_sensitive=forbid_sensitive)

    def log(self, message: str, *, level: LogLevel = "info") -> None:
        """A line in the run's event log (``minion logs``); a warning shows in the progress too."""
        self._runtime.log(message, level)
