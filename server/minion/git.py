"""A thin wrapper over the git CLI: one function, predictable environment, clear errors."""

import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

from minion.errors import MinionError

# Variables that point git at a different repository or index than `-C cwd`. They leak in
# when minion is started from inside a git hook or alias; minion always means `cwd`, so
# they are dropped unless the caller sets them explicitly (snapshot.py sets GIT_INDEX_FILE).
_REPO_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)

_FIXED_ENV = {
    "LC_ALL": "C",  # messages we may match on stay in English
    "GIT_TERMINAL_PROMPT": "0",  # never block on a credential prompt
    # Read-only commands (status, diff) must not refresh and rewrite the user's index.
    "GIT_OPTIONAL_LOCKS": "0",
}

# No hook of the user's (repo hooks or a global core.hooksPath) runs for anything minion
# does on the host: post-checkout on `worktree add`, reference-transaction on update-ref ...
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


class GitError(MinionError):
    """A git command failed. Keeps its exit code and output: some callers read a partial
    answer (rev-parse prints what it could before failing on an unborn HEAD)."""

    def __init__(self, args: tuple[str, ...], cwd: Path, returncode: int, stdout: str, stderr: str):
        self.command = ("git", *args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        command = shlex.join(self.command)
        super().__init__(f"`{command}` failed in {cwd} (exit {returncode}): {stderr.strip()}")


def git_command(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and environment `git` runs ``git -C cwd *args`` with, for a caller that needs
    the process itself (a long-lived `cat-file --batch`)."""
    full_env = {k: v for k, v in os.environ.items() if k not in _REPO_LOCATION_VARS}
    full_env.update(_FIXED_ENV)
    full_env.update(env or {})
    return ["git", *_NO_HOOKS, "-C", str(cwd), *args], full_env


def git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> str:
    """Run ``git -C cwd *args``; return stdout without its final newline."""
    argv, full_env = git_command(*args, cwd=cwd, env=env)
    proc = subprocess.run(
        argv,
        env=full_env,
        input=input,
        # Never inherit stdin: the language server's stdin is the LSP stream.
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
    )
    out = proc.stdout.decode("utf-8", "surrogateescape").removesuffix("\n")
    if check and proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "surrogateescape")
        raise GitError(args, cwd, proc.returncode, out, stderr)
    return out
