"""The layout's rules: no import cycle between the parts of server/minion/, and a run's
record typed all the way (nothing above the store reads it by string key)."""

import ast
import dataclasses
import typing
from pathlib import Path

import minion
from minion.runs.model import RunRecord

ROOT = Path(minion.__file__).parent


def _part(module: str) -> str:
    """The part of minion a module (``minion.…``) belongs to: its subpackage, or itself at
    the top level."""
    return module.split(".")[1]


def _imports(path: Path) -> set[str]:
    """The minion modules a file imports (relative imports resolved), wherever it does."""
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            # `from .. import x` imports the module x when there is one
            found |= {f"{base}.{alias.name}" if (ROOT.parent / base.replace(".", "/") / alias.name).exists()
                      or (ROOT.parent / f"{base.replace('.', '/')}/{alias.name}.py").exists() else base
                      for alias in node.names}
    return {name for name in found if name.startswith("minion.")}


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        if module == "minion.__init__":  # the version string, imported by all
            continue
        here = _part(module)
        targets = {_part(name) for name in _imports(path)}
        edges.setdefault(here, set()).update(targets - {here})
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between parts, as the path around it; None when there is none."""
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> list[str] | None:
        if part in path:
            return path[path.index(part):] + [part]
        if part in done:
            return None
        for target in sorted(edges.get(part, ())):
            if found := visit(target, [*path, part]):
                return found
        done.add(part)
        return None

    return next((found for part in sorted(edges) if (found := visit(part, []))), None)


def test_the_parts_of_minion_import_each_other_in_one_direction():
    edges = _graph()
    assert {"runs", "blueprint", "engine", "lsp", "cli"} <= edges.keys()  # the walk saw them
    assert "runs" in edges["blueprint"] and "blueprint" in edges["engine"]  # and their imports
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])
    assert "ui" not in edges["lsp"]  # the terminal's rendering is the CLI's; events describe themselves


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None


def test_a_run_record_has_no_untyped_dict_to_read_by_key():
    hints = typing.get_type_hints(RunRecord)
    for field in dataclasses.fields(RunRecord):
        shown = repr(hints[field.name])
        assert "dict" not in shown and "Any" not in shown, f"RunRecord.{field.name}: {shown}"


def test_every_package_is_in_the_distribution():
    """An editable install finds a package missing from pyproject's list; a wheel would not."""
    import tomllib

    listed = set(tomllib.loads((ROOT.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT.parent).parts) for init in ROOT.rglob("__init__.py")}
    assert found - listed == set()
