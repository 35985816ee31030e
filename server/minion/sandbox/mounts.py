"""What gets mounted where: the policy rendered to a bubblewrap command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .. import state
from .limits import limits_script
from .policy import SandboxPolicy, sandbox_env

GIT_MOUNT = Path("/run/minion/git")  # where the user's .git appears inside (read-only)


def masked_paths(policy: SandboxPolicy) -> list[tuple[Path, bool]]:
    """``(path, is_dir)`` for each masked path that exists, symlinks resolved."""
    found = []
    for raw in policy.masked_home_paths:
        path = policy.real_home / raw[2:] if raw.startswith("~/") else Path(raw)
        if not (path.exists() or path.is_symlink()):
            continue
        # Mask the target: that is what a read through the symlink reaches.
        real = Path(os.path.realpath(path))
        if real.exists():
            found.append((real, real.is_dir()))
    return found


def dependency_dirs(policy: SandboxPolicy) -> list[Path]:
    """The dependency folders that exist in the user's repo, as absolute paths."""
    found = []
    for rel in policy.dependency_dirs:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"dependency dir must be relative to the repo: {rel!r}")
        path = policy.repo_path / rel
        if path.is_dir():
            found.append(path)
    return found


def worktree_git_pointer(policy: SandboxPolicy) -> str | None:
    """The text of the ``.git`` file the sandbox sees, or None when no pointer is needed.

    A linked worktree's ``.git`` is a file: ``gitdir: <common>/worktrees/<id>``. With the
    worktree at the repo path, ``<common>`` (usually ``<repo>/.git``) is shadowed, so we
    show a pointer to the read-only copy at GIT_MOUNT instead. The gitdir's ``commondir``
    file is relative (``../..``), so it resolves inside GIT_MOUNT too. No GIT_DIR env var:
    it would leak into every git call, including tests that make their own repos.
    """
    dotgit = policy.worktree / ".git"
    if not dotgit.is_file():
        return None
    text = dotgit.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = policy.worktree / gitdir
    common = policy.git_common_dir.resolve()
    try:
        rel = gitdir.resolve().relative_to(common)
    except ValueError:
        raise ValueError(f"worktree {policy.worktree} does not belong to {common}") from None
    return f"gitdir: {GIT_MOUNT / rel}\n"


def _resolve_cwd(policy: SandboxPolicy, cwd: Path | str | None) -> Path:
    """The path relative to the repo root; ValueError when cwd is outside it."""
    if cwd is None:
        return Path()
    cwd = Path(cwd)
    inside = Path(os.path.normpath(policy.repo_path / cwd))  # relative cwd: from repo root
    repo = Path(os.path.normpath(policy.repo_path))
    if not inside.is_relative_to(repo):
        raise ValueError(f"cwd {cwd} is outside the repository {policy.repo_path}")
    return inside.relative_to(repo)



def build_bwrap_argv(
    policy: SandboxPolicy,
    command: str,
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    git_pointer_fd: int | None = None,
    git_config: Path | None = None,
    nproc_rlimit: bool = False,
    disable_userns: bool = True,
    bwrap: str = "bwrap",
) -> list[str]:
    """The full bwrap command line for ``command``. Order matters: later mounts win.

    ``git_pointer_fd`` is a readable fd holding ``worktree_git_pointer(policy)``; it is
    required when that is not None.
    """
    repo = str(policy.repo_path)
    env = sandbox_env(policy) if env is None else env
    argv = [
        bwrap,
        "--unshare-user",  # no capabilities outside
        *(["--disable-userns"] if disable_userns else []),  # no nested namespaces (bwrap 0.8+)
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        *([] if policy.network else ["--unshare-net"]),
        # Kills the sandbox when bwrap dies, and bwrap when minion dies (even by SIGKILL).
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the caller's terminal
        # Belt and braces: the user namespace already holds no host capabilities, but
        # without one, bwrap run as root keeps them all (and `mount -o remount,rw /` works).
        "--cap-drop", "ALL",
        "--ro-bind", "/", "/",
        "--proc", "/proc",
        # A process whose kernel uid is 0 (minion run as root) could write sysctls.
        "--ro-bind", "/proc/sys", "/proc/sys",
        "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        # /run holds host sockets (docker, dbus): connect() works through a ro mount.
        "--tmpfs", "/run",
    ]
    if policy.network:  # DNS on systemd-resolved hosts points into /run
        argv += ["--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"]
    for prefix in hidden_own_prefixes():
        argv += ["--ro-bind", str(prefix), str(prefix)]
    # Run store, logs, other runs' worktrees and homes. This run's home is re-bound below.
    argv += ["--tmpfs", str(policy.state_dir or state.state_dir())]
    for path, is_dir in masked_paths(policy):
        if is_dir:
            argv += ["--tmpfs", str(path), "--remount-ro", str(path)]
        else:  # reads as empty; --dev-bind because bwrap mounts binds "nodev"
            argv += ["--dev-bind", "/dev/null", str(path)]
    argv += ["--bind", str(policy.worktree), repo]
    argv += _git_mounts(policy, git_pointer_fd, git_config)
    for dep in dependency_dirs(policy):
        # The source is read from the host's view: the user's real repo, not the worktree.
        argv += ["--ro-bind", str(dep), str(dep)]
    argv += ["--bind", str(policy.home), str(policy.home)]
    argv += ["--chdir", str(policy.repo_path / _resolve_cwd(policy, cwd)), "--clearenv"]
    for name, value in sorted(env.items()):
        argv += ["--setenv", name, value]
    script = limits_script(policy.limits, nproc=nproc_rlimit)
    return argv + ["--", "/bin/bash", "-c", script, "minion-sandbox", command]


def hidden_own_prefixes() -> list[Path]:
    """minion's own Python (its venv and base install) when it lives where the private /tmp
    or /run would hide it: checks often run with that interpreter, so it stays visible."""
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    private = (Path("/tmp"), Path("/run"))
    return sorted(p for p in prefixes if any(root in p.parents for root in private))


def _git_mounts(policy: SandboxPolicy, git_pointer_fd: int | None, git_config: Path | None) -> list[str]:
    dotgit = str(policy.repo_path / ".git")
    if (policy.worktree / ".git").is_dir():  # a standalone clone: keep its .git read-only
        return ["--ro-bind", str(policy.worktree / ".git"), dotgit]
    if worktree_git_pointer(policy) is None:
        return []
    if git_pointer_fd is None:
        raise ValueError("git_pointer_fd is required for a linked worktree")
    mounts = [
        "--ro-bind", str(policy.git_common_dir), str(GIT_MOUNT),
        "--ro-bind-data", str(git_pointer_fd), dotgit,
    ]
    if git_config is not None:  # remote URLs with tokens, credential helpers: not for the agent
        mounts += ["--ro-bind", str(git_config), str(GIT_MOUNT / "config")]
    return mounts


# What git inside the sandbox needs from the repo's config; the rest (remotes, credentials,
# http headers, includes) stays outside.
SAFE_GIT_CONFIG = re.compile(
    r"^(extensions\..*|core\.(repositoryformatversion|filemode|bare|symlinks|ignorecase|"
    r"precomposeunicode|autocrlf|eol|safecrlf|logallrefupdates|quotepath|bigfilethreshold))$"
)


def sanitized_git_config(policy: SandboxPolicy) -> Path:
    """A copy of the user's .git/config with only SAFE_GIT_CONFIG, beside the run's home."""
    listing = subprocess.run(
        ["git", "config", "--file", str(policy.git_common_dir / "config"), "--null", "--list"],
        capture_output=True, stdin=subprocess.DEVNULL,
    ).stdout.decode("utf-8", "surrogateescape")
    lines = []
    for entry in filter(None, listing.split("\0")):
        key, _, value = entry.partition("\n")
        if SAFE_GIT_CONFIG.match(key):
            section, _, name = key.rpartition(".")
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'[{section}]\n\t{name} = "{quoted}"\n')
    path = policy.home.with_name(policy.home.name + ".gitconfig")
    path.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
    return path


def build_plain_argv(policy: SandboxPolicy, command: str) -> list[str]:
    """mode="none": the same shell prelude, no sandbox. The process cap is left out: without
    a user namespace RLIMIT_NPROC counts all of the user's processes."""
    return ["/bin/bash", "-c", limits_script(policy.limits, nproc=False), "minion-none", command]

