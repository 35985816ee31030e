"""A byte-for-byte fingerprint of a user's repository, to prove minion left it alone.

    before = fingerprint(repo)
    ...  # anything minion does
    assert_unchanged(before, fingerprint(repo))

It calls git directly, not through minion.git, so the check does not depend on the code
it checks. refs/minion/* (snapshots) are minion's alone. Minion may add run branches
(refs/heads/minion/*); those that existed before must stay exactly where they were (a
branch the user made, checked out or moved).
"""

import difflib
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

MINION_BRANCHES = "refs/heads/minion/"
MINION_REFS = ("refs/minion/", MINION_BRANCHES)


class Entry(NamedTuple):
    """A file, symlink or folder of the work tree (or of .git/hooks, .git/info)."""

    kind: str  # "file" | "link" | "dir"
    mode: str  # octal permission bits
    mtime_ns: int | None  # files only: a rewrite with the same bytes still counts
    content: bytes | None  # file bytes, or the link target


def fingerprint(repo: Path) -> dict:
    """Everything of the user's that minion must never change, captured exactly."""
    repo = Path(repo)
    git_dir, common_dir, index = _git(
        repo, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
        "--git-path", "index",
    ).splitlines()
    refs = _git(repo, "for-each-ref",
                "--format=%(refname) %(objectname)%(if)%(symref)%(then) -> %(symref)%(end)")
    return {
        "files": _tree(repo, skip_top=".git"),
        "index": _read(Path(index)),
        "HEAD": _read(Path(git_dir) / "HEAD"),
        "HEAD reflog": _read(Path(git_dir) / "logs" / "HEAD"),
        "refs": "\n".join(r for r in refs.splitlines() if not r.startswith(MINION_REFS)),
        "minion branches": dict(r.split(" ", 1) for r in refs.splitlines() if r.startswith(MINION_BRANCHES)),
        "stash list": _git(repo, "stash", "list"),
        "refs/stash": _git(repo, "rev-parse", "-q", "--verify", "refs/stash", check=False),
        "config": _read(Path(common_dir) / "config"),
        "hooks": _tree(Path(common_dir) / "hooks"),
        "info": _tree(Path(common_dir) / "info"),
    }


def assert_unchanged(before: dict, after: dict) -> None:
    """Fail with a readable list of every difference between two fingerprints."""
    problems = []
    for key in before:
        old, new = before[key], after[key]
        if key == "minion branches":  # new ones are minion's work; old ones must not move
            new = {ref: new.get(ref, "(deleted)") for ref in old}
        if old == new:
            continue
        if key == "minion branches":
            problems += [f"{key}: {ref} {old[ref]} -> {new[ref]}" for ref in old if old[ref] != new[ref]]
        elif isinstance(old, dict):
            problems += [f"{key}: {line}" for line in _dict_changes(old, new)]
        else:
            problems.append(f"{key} changed:\n{_describe(old, new)}")
    if problems:
        raise AssertionError("the user's repository changed:\n" + "\n".join(problems))


def _git(repo: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    proc = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-C", str(repo), *args],
        capture_output=True, env=env, stdin=subprocess.DEVNULL, check=check,
    )
    return proc.stdout.decode("utf-8", "surrogateescape").removesuffix("\n")


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _tree(root: Path, skip_top: str | None = None) -> dict[str, Entry]:
    """Every entry under root (tracked, untracked and ignored alike), by relative path."""
    entries: dict[str, Entry] = {}
    for folder, dirs, files in os.walk(root):
        if folder == str(root) and skip_top in dirs + files:
            (dirs if skip_top in dirs else files).remove(skip_top)
        for name in dirs + files:
            path = Path(folder, name)
            entries[path.relative_to(root).as_posix()] = _entry(path)
    return entries


def _entry(path: Path) -> Entry:
    st = path.lstat()
    mode = oct(st.st_mode & 0o7777)
    if path.is_symlink():
        return Entry("link", mode, None, os.readlink(os.fsencode(path)))
    if path.is_dir():
        return Entry("dir", mode, None, None)
    return Entry("file", mode, st.st_mtime_ns, path.read_bytes())


def _dict_changes(old: dict, new: dict) -> list[str]:
    lines = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            lines.append(f"{name} removed")
        elif name not in old:
            lines.append(f"{name} added ({new[name].kind})")
        elif old[name] != new[name]:
            changed = [f for f in Entry._fields if getattr(old[name], f) != getattr(new[name], f)]
            line = f"{name}: {', '.join(changed)} changed"
            if "content" in changed:
                line += "\n" + _describe(old[name].content, new[name].content)
            lines.append(line)
    return lines


def _describe(old: bytes | str | None, new: bytes | str | None) -> str:
    """A short unified diff for text, sizes for anything else."""
    texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")
             for v in (old, new)]
    is_text = all(v is None or isinstance(v, str) or b"\0" not in v for v in (old, new))
    if is_text:
        # keepends: a change of line endings alone still shows.
        diff = difflib.unified_diff(texts[0].splitlines(True), texts[1].splitlines(True),
                                    "before", "after", n=1)
        return "\n".join(_diff_line(line) for line in list(diff)[:40])
    sizes = [len(v) if v is not None else "absent" for v in (old, new)]
    return f"    binary: {sizes[0]} bytes -> {sizes[1]} bytes"


def _diff_line(line: str) -> str:
    """Content lines as repr, so a changed line ending shows; headers as they are."""
    if line.startswith(("---", "+++", "@@")):
        return f"    {line.rstrip()}"
    content = line[1:].removesuffix("\n")
    return f"    {line[0]} {content!r}"
