"""Checks: named commands run in the sandbox, from config or detected from the repo."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class CheckResult:
    name: str
    command: str
    ok: bool
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _python(repo_path: Path) -> str:
    """The repo's own venv Python when it has one (mounted in the sandbox), else python3."""
    for venv in (".venv", "venv"):
        if (repo_path / venv / "bin" / "python").exists():
            return f"{venv}/bin/python"
    return "python3"


def _read(worktree: Path, name: str) -> str:
    """A file of the worktree, read on the host; "" unless it is a regular file inside it:
    the agent may have made it a FIFO (the read would block forever) or a link out."""
    real = (worktree / name).resolve()
    if not real.is_relative_to(worktree.resolve()) or not real.is_file():
        return ""
    return real.read_text(errors="replace")


def _npm_scripts(package_json: str) -> dict:
    try:
        scripts = json.loads(package_json or "{}").get("scripts", {})
    except (json.JSONDecodeError, AttributeError):
        return {}  # a broken package.json: npm test would fail anyway, and the agent may fix it
    return scripts if isinstance(scripts, dict) else {}


def detect_checks(worktree: Path, repo_path: Path) -> dict[str, str]:
    """Checks for the usual toolchains, from the files in the repo."""
    checks: dict[str, str] = {}
    has = lambda name: (worktree / name).exists()  # noqa: E731
    python_files = next(worktree.rglob("*.py"), None) is not None
    if python_files:
        python = _python(repo_path)
        pyproject = _read(worktree, "pyproject.toml")
        if (has("ruff.toml") or has(".ruff.toml") or "[tool.ruff" in pyproject) and shutil.which("ruff"):
            checks["ruff"] = "ruff check ."
        elif has(".flake8") and shutil.which("flake8"):
            checks["flake8"] = "flake8"
        if has("tests") or has("test") or next(worktree.rglob("test_*.py"), None) or has("pytest.ini"):
            checks["pytest"] = f"{python} -m pytest -q -x -p no:cacheprovider"
    if has("package.json") and "test" in _npm_scripts(_read(worktree, "package.json")):
        checks["npm test"] = "npm test --silent"
    if has("go.mod"):
        checks["go test"] = "go test ./..."
    if has("Cargo.toml"):
        checks["cargo test"] = "cargo test --quiet"
    return checks
