"""Changes a reviewer must see first: files that run code on the user's machine, or change
what minion runs and trusts, once the branch is checked out or merged.

They are committed (the run's work may rightly touch them) but never silently: the result,
`minion show` and the editor name each one with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pathspec

from ..git import git
from ..snapshot import FlaggedFile, raw_changes

EXECUTABLE = "100755"

# (gitignore-style pattern, why it matters)
BUILT_IN: list[tuple[str, str]] = [
    ("/.minion/**", "minion's own config and blueprints: it changes what minion runs and trusts"),
    ("/.vscode/**", "editor config: tasks can run when the folder opens"),
    ("/.idea/**", "editor config: run configurations and tools"),
    ("/.envrc", "direnv runs it when you enter the folder"),
    ("/.devcontainer/**", "runs commands when the dev container is built"),
    ("/.github/workflows/**", "CI: runs with the repository's secrets"),
    ("/.gitlab-ci.yml", "CI: runs with the repository's secrets"),
    ("/.gitattributes", "can name filter drivers that run on checkout"),
    ("/.gitmodules", "points submodules at other repositories"),
    ("/.pre-commit-config.yaml", "runs on every commit"),
    ("conftest.py", "pytest runs it when it collects tests"),
    ("/setup.py", "runs on install"),
    ("Makefile", "runs when you type make"),
]


def forbidden_by_path(extra: Sequence[str] = ()) -> Callable[[str], str | None]:
    """For a blueprint that forbids sensitive changes outright: the reason a path may not be
    committed, or None. (Paths only: a script change inside package.json is flagged, not
    refused.)"""
    specs = _specs(extra)

    def forbid(rel: str) -> str | None:
        why = next((why for spec, why in specs if spec.match_file(rel)), None)
        return f"the blueprint forbids sensitive changes: {why}" if why else None

    return forbid


def _specs(extra: Sequence[str]) -> list[tuple[pathspec.GitIgnoreSpec, str]]:
    rules = [*BUILT_IN, *((pattern, "named in your sensitive_paths") for pattern in extra)]
    return [(pathspec.GitIgnoreSpec.from_lines([pattern]), why) for pattern, why in rules]


def sensitive_changes(repo_root: Path, base: str, head: str, extra: Sequence[str] = ()) -> list[FlaggedFile]:
    """The files of the changes from ``base`` to ``head`` that a reviewer must see first;
    ``extra`` are more patterns from the user's config."""
    specs = _specs(extra)
    raw = git("diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, head, "--", cwd=repo_root)
    found = []
    for change in raw_changes(raw):
        rel = change.path
        why = next((why for spec, why in specs if spec.match_file(rel)), None)
        if why is None and change.new_mode == EXECUTABLE and change.old_mode != EXECUTABLE:
            why = "made executable"
        if why is None and Path(rel).name == "package.json" and _scripts_changed(repo_root, base, head, rel):
            why = "its scripts (with pre/post hooks) run on npm install, test and more"
        if why:
            found.append(FlaggedFile(rel, why))
    return found


def _scripts_changed(repo_root: Path, base: str, head: str, rel: str) -> bool:
    def scripts(rev: str) -> object:
        text = git("show", f"{rev}:{rel}", cwd=repo_root, check=False)
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return text  # not JSON: any change counts
        return data.get("scripts") if isinstance(data, dict) else data

    return scripts(base) != scripts(head)
