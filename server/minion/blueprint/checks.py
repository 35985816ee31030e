"""Checks: named commands run in the sandbox, from config or chosen from the project's own
declarations (its config files, its scripts, what is installed in its environment).

Fixers run in check mode (`ruff check --no-fix`): a check reports, it does not edit.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import pathguard
from ..git import git
from .python_env import PythonEnv

NPM_PLACEHOLDER = "no test specified"  # `npm init`'s "test" script, which always fails


@dataclass(frozen=True)
class Check:
    name: str
    command: str
    why: str


@dataclass
class Detection:
    checks: list[Check] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)  # what was considered, and why it does not run

    def commands(self) -> dict[str, str]:
        return {c.name: c.command for c in self.checks}

    def add(self, name: str, command: str, why: str) -> None:
        self.checks.append(Check(name, command, why))


def _read(worktree: Path, name: str) -> str:
    """A file of the worktree, read on the host; "" unless it is a regular file inside it:
    the agent may have made it a FIFO (the read would block forever) or a link out."""
    try:
        return pathguard.read_text(worktree, name)
    except (pathguard.PathRefused, OSError, UnicodeDecodeError):
        return ""


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}  # a broken file: the check that reads it will say so


def _ini_sections(text: str) -> set[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return set()
    return set(parser.sections())


def _npm_scripts(package_json: str) -> dict:
    try:
        scripts = json.loads(package_json or "{}").get("scripts", {})
    except (json.JSONDecodeError, AttributeError):
        return {}  # a broken package.json: npm test would fail anyway, and the agent may fix it
    return scripts if isinstance(scripts, dict) else {}


def detect_checks(worktree: Path, python: PythonEnv, *, network: bool = False) -> Detection:
    """The checks the project declares, with why each was chosen (or passed over)."""
    found = Detection()
    has = lambda name: (worktree / name).exists()  # noqa: E731
    # git's listing, not a walk: it skips ignored folders (.venv, node_modules, build output)
    names = [rel.rpartition("/")[2] for rel in git("ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                                   cwd=worktree).split("\0") if rel]
    if any(name.endswith(".py") for name in names):
        _python_checks(worktree, python, found, has, names)
    scripts = _npm_scripts(_read(worktree, "package.json"))
    if isinstance(scripts.get("test"), str) and NPM_PLACEHOLDER not in scripts["test"]:
        found.add("npm test", "npm test --silent", "package.json declares a test script")
    elif has("package.json"):
        found.passed_over.append("npm test: package.json has no test script")
    if has("go.mod"):
        found.add("go vet", "go vet ./...", "go.mod")
        found.add("go test", "go test ./...", "go.mod")
    if has("Cargo.toml"):
        offline = "" if network else " --offline"
        found.add("cargo test", f"cargo test --quiet{offline}",
                  "Cargo.toml" + ("" if network else "; --offline: the sandbox has no network"))
    tests = {c.name for c in found.checks} & {"pytest", "unittest", "npm test", "go test", "cargo test"}
    if re.search(r"^test\s*:", _read(worktree, "Makefile"), re.MULTILINE):
        if tests:
            found.passed_over.append(f"make test: {', '.join(sorted(tests))} already tests the project")
        else:
            found.add("make test", "make test", "the Makefile declares a test target")
    for runner, config in (("tox", "tox.ini"), ("nox", "noxfile.py")):
        if has(config):
            found.passed_over.append(f"{runner}: {config} found, but {runner} builds its environments from the "
                                     "network; name it in the checks setting to run it")
    return found


def _python_checks(worktree: Path, python: PythonEnv, found: Detection, has, names: list[str]) -> None:
    pyproject = _toml(_read(worktree, "pyproject.toml")).get("tool", {})
    setup_cfg = _ini_sections(_read(worktree, "setup.cfg"))
    tox_ini = _ini_sections(_read(worktree, "tox.ini"))
    where = f" ({python.why})"

    def tool_check(name: str, declared: str | None, command: str) -> None:
        if not declared:
            return
        if tool := python.tool(name):
            origin = python.why if python.provides(tool) else "the PATH"
            found.add(name, f"{tool} {command}".rstrip(), f"{declared}; {name} from {origin}")
        else:
            found.passed_over.append(f"{name}: {declared}, but {name} is neither in the project's environment"
                                     f"{where} nor on the PATH")

    ruff_config = next((f for f in ("ruff.toml", ".ruff.toml") if has(f)), None) or (
        "[tool.ruff] in pyproject.toml" if "ruff" in pyproject else None)
    tool_check("ruff", ruff_config, "check --no-fix .")
    if not ruff_config:
        flake8 = next((f for f in (".flake8",) if has(f)), None) or (
            "[flake8] in setup.cfg" if "flake8" in setup_cfg
            else "[flake8] in tox.ini" if "flake8" in tox_ini else None)
        tool_check("flake8", flake8, "")
    mypy_config = next((f for f in ("mypy.ini", ".mypy.ini") if has(f)), None) or (
        "[tool.mypy] in pyproject.toml" if "mypy" in pyproject
        else "[mypy] in setup.cfg" if "mypy" in setup_cfg else None)
    mypy_file = mypy_config if mypy_config in ("mypy.ini", ".mypy.ini") else None
    files_named = "files" in pyproject.get("mypy", {}) or bool(mypy_file and re.search(
        r"^files\s*=", _read(worktree, mypy_file), re.MULTILINE))
    tool_check("mypy", mypy_config, "" if files_named else ".")

    test_dir = next((d for d in ("tests", "test") if (worktree / d).is_dir()), None)
    has_tests = test_dir or any(n.startswith("test_") and n.endswith(".py") or n.endswith("_test.py") for n in names)
    if not has_tests and not has("pytest.ini"):
        return
    if python.has_module("pytest"):
        found.add("pytest", f"{python.interpreter} -m pytest -q -p no:cacheprovider",
                  f"tests found; pytest is installed for {python.interpreter} ({python.why})")
    else:
        start = f" -s {test_dir}" if test_dir else ""
        found.add("unittest", f"{python.interpreter} -m unittest discover{start} -q",
                  f"tests found; pytest is not installed for {python.interpreter} ({python.why})")

