"""Blueprints are plain Python: ``@blueprint(name, description)`` on an ``async def (run)``.

Built-ins come from the `minion_blueprints` package; a repo adds or overrides them with
``.minion/blueprints/*.py``. A repo's files run on the host as the user, so they are read
only after `minion.trust` has checked their exact bytes were trusted (``minion trust``), and
the bytes checked are the bytes parsed or run: the file is never read a second time.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from ..errors import MinionError
from .. import trust

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


def _load_source(path: Path, data: bytes) -> list[Blueprint]:
    """Run one blueprint file's code, from the bytes already read (and, for a repo file, trusted)."""
    name = f"minion_bp_{hashlib.sha256(str(path).encode(errors='surrogateescape')).hexdigest()[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and pickling look their module up there
    try:
        exec(compile(data, str(path), "exec", dont_inherit=True), module.__dict__)
    except (Exception, SystemExit):  # a file that calls sys.exit() must not end minion
        raise MinionError(f"blueprint file {path} failed to load:\n{traceback.format_exc(limit=-3)}") from None
    found = []
    for value in vars(module).values():
        marked = getattr(value, "__minion_blueprint__", None)
        if marked:
            found.append(Blueprint(marked[0], marked[1], value, path))
    return found


def _builtin_files() -> list[Path]:
    return sorted(p for p in builtin_dir().glob("*.py") if p.name != "__init__.py")


def _blueprint_sources(repo_root: Path | None) -> list[tuple[Path, bytes]]:
    """Built-ins first, then the repo's own: later files override earlier names.

    The repo's files come only once every one of them is trusted, else UntrustedBlueprint.
    Any untrusted file blocks the repo, even for a built-in name no trusted file overrides:
    which names an untrusted file declares is known only by reading code the user has not
    reviewed (a decorator can be aliased, a name computed), so "this file does not shadow
    `default`" cannot be decided safely; and a merged branch that adds a file must not run
    next to the user's trusted ones unnoticed. Built-ins ship with minion and need no trust.
    """
    sources = [(p, p.read_bytes()) for p in _builtin_files()]
    if repo_root is not None:
        sources += [(f.path, f.data) for f in trust.verified_files(repo_root)]
    return sources


def load_blueprints(repo_root: Path | None) -> dict[str, Blueprint]:
    """All blueprints by name; the repo's own override built-ins of the same name.

    Raises UntrustedBlueprint, before running any of the repo's code, if a repo file is not trusted.
    """
    found: dict[str, Blueprint] = {}
    for path, data in _blueprint_sources(repo_root):
        for bp in _load_source(path, data):
            found[bp.name] = bp
    return found


def declared_names(repo_root: Path | None) -> set[str]:
    """The names of ``@blueprint("name", …)`` functions, read without running any code.

    The language server checks a request with this: a repo's blueprint code runs only in
    the run's worker process, where a misbehaving file cannot take the server down. Raises
    UntrustedBlueprint if a repo file is not trusted (reading it is safe; running it is not).
    """
    names = set()
    for path, data in _blueprint_sources(repo_root):
        try:
            tree = ast.parse(data, filename=str(path))
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
    """Before a run does any work: every repo blueprint file is trusted and ``name`` is declared."""
    available = declared_names(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")


def get_blueprint(name: str, repo_root: Path | None) -> Blueprint:
    available = load_blueprints(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")
    return available[name]
