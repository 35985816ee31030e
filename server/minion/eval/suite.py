"""A suite: a folder of tasks, each ``SUITE/<task>/task.toml``, read into `Task`s.

Paths in a task.toml are relative to the task's folder. The judge's files (``judge``,
default ``SUITE/<task>/judge/`` when it exists) stay outside the task's repo: the agent's
run never has them; they are laid over the result only for the judge (judge.py).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import CAP_KEYS, DEFAULT_MODEL
from ..errors import MinionError

TriggerKind = Literal["instruction", "todo", "selection", "diagnostic"]

# What a task may set for its run, besides the caps: a suite is the user's own, but it
# must not turn the sandbox or the network on or off behind their back.
TASK_SETTINGS = CAP_KEYS | {"checks", "repair_rounds", "baseline", "python", "todo_patterns", "command_timeout"}

DEFAULT_TIMEOUT_S = 1800.0

# The built-in suite (docs/eval.md): `minion eval builtin`. Each task ships the scripted
# model that solves it, the suite's model when no --model is given and no API key is set.
BUILTIN = "builtin"
BUILTIN_SUITE = Path(__file__).parent / "builtin"
BUILTIN_SCRIPT = "scripted:{task}/scripted.json"


def suite_folder(name: str) -> Path:
    """The folder a suite's name means: ``builtin`` is the built-in suite (give a local
    folder of that name as ``./builtin``), anything else a folder."""
    return BUILTIN_SUITE if name == BUILTIN else Path(name).resolve()


def default_models(suite: Path, models: list[str], env: dict[str, str] | None = None) -> tuple[list[str], str | None]:
    """The variants' models, and a note saying which the built-in suite uses when none is
    given: Claude (the default model) with ``ANTHROPIC_API_KEY`` set, else each task's
    shipped scripted model. Other suites, or given models, are left as they are."""
    if models or suite.resolve() != BUILTIN_SUITE.resolve():
        return list(models), None
    if (os.environ if env is None else env).get("ANTHROPIC_API_KEY"):
        return [DEFAULT_MODEL], f"model: {DEFAULT_MODEL} (ANTHROPIC_API_KEY is set: this measures Claude, and costs)"
    return [BUILTIN_SCRIPT], (f"model: each task's shipped script ({BUILTIN_SCRIPT}), offline; "
                              "set ANTHROPIC_API_KEY or give --model to measure a real model")


@dataclass(frozen=True)
class Trigger:
    """How the task reaches minion: a plain instruction, a TODO, a selection or a diagnostic.
    Lines are 1-based and inclusive, as people count them."""

    kind: TriggerKind
    instruction: str | None = None
    path: str | None = None
    start_line: int = 0
    end_line: int = 0
    message: str | None = None  # a diagnostic's
    source: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Task:
    name: str
    folder: Path
    repo: Path  # a folder, or a git bundle (with ``ref``)
    ref: str | None
    trigger: Trigger
    check: str  # the hidden judge: a shell command, run in the sandbox on the result
    judge_files: Path | None
    setup: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S  # the run's wall-clock cap, and each of setup's and the judge's
    settings: dict[str, Any] = field(default_factory=dict)  # caps and the like, as flags of the run
    model: str | None = None  # overrides the variant's model (a scripted suite's script)
    instance_id: str | None = None  # SWE-bench's, for --format swebench

    @property
    def is_bundle(self) -> bool:
        return self.repo.is_file()


def load_suite(folder: Path) -> list[Task]:
    """Every ``<task>/task.toml`` in ``folder``, by name. MinionError names the file and key."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MinionError(f"no such suite folder: {folder}")
    tasks = [load_task(toml.parent) for toml in sorted(folder.glob("*/task.toml"))]
    if not tasks:
        raise MinionError(f"the suite {folder} has no tasks: expected {folder}/<task>/task.toml")
    return tasks


def load_task(folder: Path) -> Task:
    path = folder / "task.toml"
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise MinionError(f"{path}: {e}") from e

    def want(key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        value = data.get(key)
        if value is None:
            if required:
                raise MinionError(f"{path}: `{key}` is required")
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise MinionError(f"{path}: `{key}` has the wrong type ({type(value).__name__})")
        return value

    known = {"repo", "ref", "instruction", "todo", "selection", "diagnostic", "setup", "check", "judge", "timeout",
             "caps", "settings", "model", "instance_id"}
    if unknown := sorted(set(data) - known):
        raise MinionError(f"{path}: unknown key(s) {', '.join(unknown)}")
    repo = (folder / want("repo", str, required=True)).resolve()
    if not repo.exists():
        raise MinionError(f"{path}: the repo {repo} does not exist")
    ref = want("ref", str)
    if repo.is_file() and not ref:
        raise MinionError(f"{path}: a git bundle needs `ref` (the commit or branch to start from)")
    judge = want("judge", str)
    judge_files = (folder / judge).resolve() if judge else (folder / "judge" if (folder / "judge").is_dir() else None)
    if judge_files is not None and not judge_files.is_dir():
        raise MinionError(f"{path}: the judge folder {judge_files} does not exist")
    if judge_files is not None and judge_files.resolve().is_relative_to(repo.resolve()):
        raise MinionError(f"{path}: the judge's files must not be inside the repo (the agent would see them)")
    settings = {**(want("caps", dict) or {}), **(want("settings", dict) or {})}
    if bad := sorted(set(settings) - TASK_SETTINGS):
        raise MinionError(f"{path}: a task may not set {', '.join(bad)} (allowed: {', '.join(sorted(TASK_SETTINGS))})")
    timeout = float(want("timeout", (int, float)) or DEFAULT_TIMEOUT_S)
    model = want("model", str)
    return Task(
        name=folder.name, folder=folder.resolve(), repo=repo, ref=ref, trigger=_trigger(path, data),
        check=want("check", str, required=True), judge_files=judge_files, setup=want("setup", str),
        timeout=timeout, settings=settings, model=expand_model(model, folder) if model else None,
        instance_id=want("instance_id", str),
    )


def expand_model(spec: str, task_folder: Path) -> str:
    """``{task}`` in a model spec is the task's folder, and a scripted model's relative file
    is the task folder's: a scripted suite ships one script per task and variant."""
    spec = spec.replace("{task}", str(task_folder))
    kind, _, rest = spec.partition(":")
    if kind == "scripted" and rest and not Path(rest).is_absolute():
        return f"scripted:{(task_folder / rest).resolve()}"
    return spec


_RANGE = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")


def _trigger(path: Path, data: dict[str, Any]) -> Trigger:
    instruction = data.get("instruction")
    given = [k for k in ("todo", "selection", "diagnostic") if k in data]
    if len(given) > 1:
        raise MinionError(f"{path}: give one trigger, not {' and '.join(given)}")
    if not given:
        if not isinstance(instruction, str) or not instruction.strip():
            raise MinionError(f"{path}: give a trigger: `instruction`, `todo`, `selection` or `diagnostic`")
        return Trigger("instruction", instruction=instruction)
    kind = given[0]
    if kind == "diagnostic":
        diag = data["diagnostic"]
        if not isinstance(diag, dict) or not {"path", "line", "message"} <= diag.keys():
            raise MinionError(f"{path}: `diagnostic` is {{path, line, message}} (source and code optional)")
        line = int(diag["line"])
        return Trigger("diagnostic", instruction=instruction, path=str(diag["path"]), start_line=line, end_line=line,
                       message=str(diag["message"]), source=diag.get("source"),
                       code=str(diag["code"]) if diag.get("code") is not None else None)
    where = _RANGE.match(str(data[kind]))
    if not where:
        shape = '"path:line" or "path:start-end"' if kind == "selection" else '"path:line"'
        raise MinionError(f"{path}: `{kind}` is {shape}")
    start = int(where["start"])
    end = int(where["end"] or start)
    if start < 1 or end < start:
        raise MinionError(f"{path}: `{kind}` lines are 1-based, start <= end")
    if kind == "selection" and not instruction:
        raise MinionError(f"{path}: a `selection` needs an `instruction`")
    return Trigger(kind, instruction=instruction, path=where["path"], start_line=start, end_line=end)
