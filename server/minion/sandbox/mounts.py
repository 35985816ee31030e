"""The view rendered to a bubblewrap command line, and the git part of the view."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .limits import limits_script
from .policy import MB, SandboxPolicy
from .view import Mount, View

GIT_MOUNT = Path("/run/minion/git")  # where the run's git dir appears inside (read-only)


def build_bwrap_argv(
    policy: SandboxPolicy,
    view: View,
    command: str,
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str],
    data_fds: Mapping[str, int] = {},
    seccomp_fd: int | None = None,
    nproc_rlimit: bool = False,
    address_space: bool = True,
    disable_userns: bool = True,
    bwrap: str = "bwrap",
) -> list[str]:
    """The full bwrap command line for ``command`` in ``view``.

    ``data_fds`` holds a readable fd for each of the view's data blobs, ``seccomp_fd`` the
    compiled kernel filter.
    """
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
        *render(view, data_fds),
        "--remount-ro", "/",  # the root itself: no new top-level files
    ]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += ["--chdir", str(policy.repo_path / resolve_cwd(policy, cwd)), "--clearenv"]
    for name, value in sorted(env.items()):
        argv += ["--setenv", name, value]
    script = limits_script(policy.limits, nproc=nproc_rlimit, address_space=address_space)
    return argv + ["--", "/bin/bash", "-c", script, "minion-sandbox", command]


def render(view: View, data_fds: Mapping[str, int]) -> list[str]:
    """The view's mounts as bwrap options, shallowest first."""
    args: list[str] = []
    for mount in view.ordered():
        target = str(mount.target)
        if mount.kind in ("ro", "rw"):
            args += ["--ro-bind" if mount.kind == "ro" else "--bind", str(mount.source), target]
        elif mount.kind == "symlink":
            args += ["--symlink", str(mount.source), target]
        elif mount.kind in ("proc", "dev"):
            args += [f"--{mount.kind}", target]
        elif mount.kind == "tmpfs":
            args += ["--size", str((mount.size_mb or 1) * MB), "--tmpfs", target]
        elif mount.kind == "data":
            args += ["--ro-bind-data", str(data_fds[str(mount.source)]), target]
        elif mount.target.is_dir():  # a mask: an empty read-only folder
            args += ["--size", "4096", "--tmpfs", target, "--remount-ro", target]
        else:  # reads as empty; --dev-bind because bwrap mounts binds "nodev"
            args += ["--dev-bind", "/dev/null", target]
    return args


def resolve_cwd(policy: SandboxPolicy, cwd: Path | str | None) -> Path:
    """The path relative to the repo root; ValueError when cwd is outside it."""
    if cwd is None:
        return Path()
    cwd = Path(cwd)
    inside = Path(os.path.normpath(policy.repo_path / cwd))  # relative cwd: from repo root
    repo = Path(os.path.normpath(policy.repo_path))
    if not inside.is_relative_to(repo):
        raise ValueError(f"cwd {cwd} is outside the repository {policy.repo_path}")
    return inside.relative_to(repo)


def build_plain_argv(policy: SandboxPolicy, command: str) -> list[str]:
    """mode="none": the same shell prelude, no sandbox. The process cap is left out: without
    a user namespace RLIMIT_NPROC counts all of the user's processes."""
    return ["/bin/bash", "-c", limits_script(policy.limits, nproc=False), "minion-none", command]


# --- git ---------------------------------------------------------------------------------


def git_mounts(policy: SandboxPolicy, store: Path | None) -> tuple[list[Mount], dict[str, bytes]]:
    """The run's private git store (see gitstore.py) read-only at GIT_MOUNT, and the
    worktree's ``.git`` pointer file replaced by one that points there. No GIT_DIR variable:
    it would leak into every git call, tests that make their own repos included."""
    dotgit = policy.repo_path / ".git"
    if (policy.worktree / ".git").is_dir():  # a standalone clone: its .git is its own, read-only
        return [Mount("ro", dotgit, "the run's git dir, read-only", policy.worktree / ".git")], {}
    if store is None:
        return [], {}
    mounts = [
        Mount("ro", GIT_MOUNT, "the run's private git store: the snapshot's history window, no excluded "
              "files, no refs, stash, index or config of yours", store),
        Mount("data", dotgit, "the worktree's .git pointer, to the private store", "git-pointer"),
    ]
    return mounts, {"git-pointer": f"gitdir: {GIT_MOUNT}\n".encode()}
