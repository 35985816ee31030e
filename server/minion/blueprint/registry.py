"""Blueprints are plain Python: ``@blueprint(name, description)`` on an ``async def (run)``.

Built-ins come from the `minion_blueprints` package; a repo adds or overrides them with
``.minion/blueprints/*.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import inspect
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from ..errors import MinionError

BlueprintFn = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Blueprint:
    name: str
    description: str
    fn: BlueprintFn
    source: Path


def blueprint(name: str, description: str) -> Callable[[BlueprintFn], BlueprintFn]:
    def mark(fn: BlueprintFn) -> BlueprintFn:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"blueprint '{name}' must be an async def taking the run")
        fn.__minion_blueprint__ = (name, description)  # type: ignore[attr-defined]
        return fn

    return mark


def builtin_dir() -> Path:
    import minion_blueprints

    return Path(minion_blueprints.__file__).parent


def _load_file(path: Path) -> list[Blueprint]:
    spec = importlib.util.spec_from_file_location(f"minion_bp_{abs(hash(path))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up there
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit):  # a file that calls sys.exit() must not end minion
        raise MinionError(f"blueprint file {path} failed to load:\n{traceback.format_exc(limit=-3)}") from None
    found = []
    for value in vars(module).values():
        marked = getattr(value, "__minion_blueprint__", None)
        if marked:
            found.append(Blueprint(marked[0], marked[1], value, path))
    return found


def _blueprint_files(repo_root: Path | None) -> list[Path]:
    """Built-ins first, then the repo's own: later files override earlier names."""
    files = sorted(p for p in builtin_dir().glob("*.py") if p.name != "__init__.py")
    if repo_root is not None:
        files += sorted((repo_root / ".minion" / "blueprints").glob("*.py"))
    return files


def load_blueprints(repo_root: Path | None) -> dict[str, Blueprint]:
    """All blueprints by name; the repo's own override built-ins of the same name."""
    found: dict[str, Blueprint] = {}
    for path in _blueprint_files(repo_root):
        for bp in _load_file(path):
            found[bp.name] = bp
    return found


def declared_names(repo_root: Path | None) -> set[str]:
    """The names of ``@blueprint("name", …)`` functions, read without running any code.

    The language server checks a request with this: a repo's blueprint code runs only in
    the run's worker process, where a misbehaving file cannot take the server down.
    """
    names = set()
    for path in _blueprint_files(repo_root):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError) as e:
            raise MinionError(f"blueprint file {path} failed to load: {e}") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "blueprint"
                            and decorator.args and isinstance(decorator.args[0], ast.Constant)):
                        names.add(decorator.args[0].value)
    return names


def check_blueprint(name: str, repo_root: Path | None) -> None:
    available = declared_names(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")


def get_blueprint(name: str, repo_root: Path | None) -> Blueprint:
    available = load_blueprints(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")
    return available[name]
