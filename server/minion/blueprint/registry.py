"""Blueprints are plain Python: ``@blueprint(name, description)`` on an ``async def (run)``.

Built-ins come from the `minion_blueprints` package; a repo adds or overrides them with
``.minion/blueprints/*.py``. A repo's files run on the host as the user, so they are read
only after `minion.trust` has checked their exact bytes were trusted (``minion trust``), and
the bytes checked are the bytes parsed or run: the file is never read a second time.

**What counts as a blueprint** is one rule, `declarations`, read off the file's syntax
without running it: a top-level ``async def`` decorated with ``@blueprint("name", …)`` or
``@<anything>.blueprint("name", …)`` (``@bp.blueprint`` after ``import minion.blueprint as
bp``), the name a string literal (positional or ``name=``). The language server (which
never runs a repo's code) offers exactly these names. The worker runs the file and then
holds it to the same rule: a blueprint made any other way (an aliased decorator, a computed
name, a factory, a nested def) or a declaration that running the file does not make is a
load error naming it, so a name the server offers is always a blueprint the worker finds.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import traceback
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import trust
from ..errors import MinionError

if TYPE_CHECKING:
    from .run import Run

BlueprintFn = Callable[["Run"], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[None]])
MARK = "__minion_blueprint__"


@dataclass(frozen=True)
class Blueprint:
    name: str
    description: str
    fn: BlueprintFn
    source: Path


def blueprint(name: str, description: str = "") -> Callable[[F], F]:
    """Declare an ``async def (run: Run) -> None`` as the blueprint ``name``.

    Write it right on a top-level function, the name a string literal: that is how minion
    finds blueprints without running the file (see the module docstring)."""
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"a blueprint's name must be a non-empty string, not {name!r}")

    def mark(fn: F) -> F:
        marked = fn
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"blueprint '{name}' must be an async def taking the run")
        setattr(marked, MARK, (name, description))
        return marked

    return mark


@dataclass(frozen=True)
class Declaration:
    """A blueprint as its file declares it, read without running the file."""

    name: str
    description: str  # "" when it is not a string literal
    function: str  # the async def's name
    line: int
    source: Path
    builtin: bool = False


def _is_blueprint_decorator(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "blueprint") or (
        isinstance(func, ast.Attribute) and func.attr == "blueprint")


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def declarations(path: Path, data: bytes, *, builtin: bool = False) -> list[Declaration]:
    """The blueprints ``data`` (the file ``path``) declares: the one rule of what a
    blueprint is (module docstring). Raises MinionError when the file does not parse."""
    try:
        tree = ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError) as e:
        raise MinionError(f"blueprint file {path} failed to load: {e}") from None
    found = []
    for node in tree.body:
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call) or not _is_blueprint_decorator(decorator):
                continue
            name = _literal(_argument(decorator, 0, "name"))
            if name:
                description = _literal(_argument(decorator, 1, "description")) or ""
                found.append(Declaration(name, description, node.name, node.lineno, path, builtin))
    return found


def builtin_dir() -> Path:
    import minion_blueprints

    return Path(minion_blueprints.__file__).parent


def _made(module: types.ModuleType) -> list[tuple[Callable[..., Any], str, str]]:
    """The blueprints running a file made: marked functions defined in it (an imported
    blueprint is its own file's), each once."""
    made: list[tuple[Callable[..., Any], str, str]] = []
    seen: set[int] = set()
    for value in vars(module).values():
        if not callable(value) or getattr(value, "__module__", None) != module.__name__ or id(value) in seen:
            continue
        mark = getattr(value, MARK, None)
        if isinstance(mark, tuple) and len(mark) == 2 and all(isinstance(part, str) for part in mark):
            seen.add(id(value))
            made.append((value, mark[0], mark[1]))
    return made


def _load_source(path: Path, data: bytes) -> list[Blueprint]:
    """Run one blueprint file's code, from the bytes already read (and, for a repo file,
    trusted); what it makes must be what `declarations` reads in it."""
    declared = declarations(path, data)
    name = f"minion_bp_{hashlib.sha256(str(path).encode(errors='surrogateescape')).hexdigest()[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and pickling look their module up there
    try:
        exec(compile(data, str(path), "exec", dont_inherit=True), module.__dict__)
    except (Exception, SystemExit):  # a file that calls sys.exit() must not end minion
        raise MinionError(f"blueprint file {path} failed to load:\n{traceback.format_exc(limit=-3)}") from None
    made = _made(module)
    seen = {(d.name, d.function) for d in declared}
    for fn, bp_name, _ in made:
        if (bp_name, fn.__name__) not in seen:
            raise MinionError(
                f"blueprint file {path}: the blueprint '{bp_name}' ({fn.__qualname__}) is made in a way minion "
                "cannot read without running the file, so the language server would never offer it. Declare it "
                f"with @blueprint({bp_name!r}, \"what it does\") right on a top-level async def, the name a "
                "string literal (@blueprint or @<module>.blueprint, not an alias).")
    made_keys = {(bp_name, fn.__name__) for fn, bp_name, _ in made}
    for d in declared:
        if (d.name, d.function) not in made_keys:
            raise MinionError(
                f"blueprint file {path}:{d.line}: {d.function} is declared as the blueprint '{d.name}', but running "
                f"the file made no such blueprint: is the decorator minion.blueprint.blueprint, and is {d.function} "
                "not replaced further down?")
    return [Blueprint(bp_name, description, fn, path) for fn, bp_name, description in made]


def _builtin_files() -> list[Path]:
    return sorted(p for p in builtin_dir().glob("*.py") if p.name != "__init__.py")


def _blueprint_sources(repo_root: Path | None) -> list[tuple[Path, bytes, bool]]:
    """Built-ins first, then the repo's own: later files override earlier names. Each is
    (path, bytes, built-in).

    The repo's files come only once every one of them is trusted, else UntrustedBlueprint.
    Any untrusted file blocks the repo, even for a built-in name no trusted file overrides:
    a merged branch that adds a file must not run next to the user's trusted ones
    unnoticed. Built-ins ship with minion and need no trust.
    """
    sources = [(p, p.read_bytes(), True) for p in _builtin_files()]
    if repo_root is not None:
        sources += [(f.path, f.data, False) for f in trust.verified_files(repo_root)]
    return sources


def load_blueprints(repo_root: Path | None) -> dict[str, Blueprint]:
    """All blueprints by name; the repo's own override built-ins of the same name. Their
    names are `declared_names`, by construction.

    Raises UntrustedBlueprint, before running any of the repo's code, if a repo file is not trusted.
    """
    found: dict[str, Blueprint] = {}
    for path, data, _ in _blueprint_sources(repo_root):
        for bp in _load_source(path, data):
            found[bp.name] = bp
    return found


def declared_names(repo_root: Path | None) -> set[str]:
    """The names of the blueprints, read without running any code (`declarations`).

    The language server checks a request with this: a repo's blueprint code runs only in
    the run's worker process, where a misbehaving file cannot take the server down. Raises
    UntrustedBlueprint if a repo file is not trusted (reading it is safe; running it is not).
    """
    return {d.name for path, data, builtin in _blueprint_sources(repo_root)
            for d in declarations(path, data, builtin=builtin)}


def check_blueprint(name: str, repo_root: Path | None) -> None:
    """Before a run does any work: every repo blueprint file is trusted and ``name`` is declared."""
    available = declared_names(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")


def check_runs_on_fleet(name: str, repo_root: Path) -> None:
    """A fleet worker runs minion's built-in blueprints only: a repository's is Python that
    runs outside the sandbox, and a worker does not take code to run from a client."""
    if any(d.name == name for path, data, builtin in _blueprint_sources(repo_root) if not builtin
           for d in declarations(path, data)):
        raise MinionError(f"blueprint '{name}' is this repository's own (.minion/blueprints), and fleet workers "
                          "run only minion's built-in blueprints (a blueprint runs outside the sandbox, so a "
                          "worker does not take one from a client): run it here (--executor local)")


def get_blueprint(name: str, repo_root: Path | None) -> Blueprint:
    available = load_blueprints(repo_root)
    if name not in available:
        raise MinionError(f"unknown blueprint '{name}'; available: {', '.join(sorted(available))}")
    return available[name]


# --- `minion blueprints`: what is found, and where ---------------------------------------


@dataclass(frozen=True)
class UntrustedFile:
    path: Path
    sha256: str
    declares: list[str]  # read, not run


@dataclass
class Discovery:
    """Every blueprint declaration found, read without running anything."""

    blueprints: list[Declaration] = field(default_factory=list)  # what a run may name, by name
    overridden: list[Declaration] = field(default_factory=list)  # hidden by a later file's same name
    untrusted: list[UntrustedFile] = field(default_factory=list)  # block every run of the repo
    problems: list[str] = field(default_factory=list)  # files that cannot be read or parsed


def discover(repo_root: Path | None) -> Discovery:
    """The built-ins and the repo's files with the blueprints each declares (`declarations`),
    trusted or not; no file is run, and no problem stops the listing."""
    found = Discovery()
    sources = [(p, p.read_bytes(), True) for p in _builtin_files()]
    untrusted: dict[Path, str] = {}
    if repo_root is not None:
        try:
            files = trust.repo_blueprint_files(repo_root)
            untrusted = {path: sha for path, sha in trust.untrusted(repo_root)}
        except MinionError as e:  # an unsafe file (a FIFO, a link out): runs refuse the repo too
            found.problems.append(str(e))
            files = []
        sources += [(f.path, f.data, False) for f in files]
    by_name: dict[str, Declaration] = {}
    for path, data, builtin in sources:
        try:
            declared = declarations(path, data, builtin=builtin)
        except MinionError as e:
            found.problems.append(str(e))
            continue
        if path in untrusted:
            found.untrusted.append(UntrustedFile(path, untrusted[path], [d.name for d in declared]))
            continue
        for d in declared:
            if d.name in by_name:
                found.overridden.append(by_name[d.name])
            by_name[d.name] = d
    found.blueprints = sorted(by_name.values(), key=lambda d: d.name)
    return found
