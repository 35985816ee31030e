"""The filesystem a sandboxed command sees, built from an allow-list, as data.

Every entry says what is mounted where, read-only or not, and why; ``mounts.py`` renders
it to bubblewrap arguments and ``explain`` prints it. Nothing of the host is visible unless
an entry here shows it:

* the system: ``/usr`` and the ``/bin``, ``/lib*`` links, ``/etc`` without its secrets,
  a private ``/proc``, a minimal ``/dev``, the CPU list of ``/sys``;
* sized private tmpfs for ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run``;
* the toolchain the checks need (see ``toolchain.py``), read-only;
* the run's worktree, read-write, at the user's repo path; the user's dependency folders
  read-only at their places, each ``node_modules`` with a run-private writable ``.cache``
  (see ``layers.py``); the run-private git store;
* the run's private, empty HOME;
* the repository's tool caches (Go's build cache, pip's, npm's),
  read-write, kept across its runs;
* the project's Python environment, read-only at its real path;
* what the user's own config adds (``sandbox_allow``), read-only.

Entries are applied shallowest first, so a deeper path always wins: the worktree shows
through a tmpfs above it, a mask hides a file inside a shown folder.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .layers import CACHE, TOOL_CACHE_ENV, TOOL_CACHE_MOUNT, layers_of
from .policy import DEFAULT_PATH, SandboxPolicy
from .toolchain import Toolchain, find_toolchain

Kind = Literal["ro", "rw", "dev-bind", "tmpfs", "symlink", "proc", "dev", "data", "mask"]

SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

# Files of /etc that hold secrets (globs): hidden, even though /etc is shown.
ETC_SECRETS = [
    "/etc/shadow*", "/etc/gshadow*", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh/ssh_host_*key",
    "/etc/ssl/private", "/etc/security/opasswd", "/etc/krb5.keytab", "/etc/docker", "/etc/containers/auth.json",
    "/etc/NetworkManager/system-connections", "/etc/wireguard", "/etc/openvpn", "/etc/ppp/*-secrets",
    "/etc/libvirt", "/etc/cups/ssl", "/etc/letsencrypt", "/etc/rancher", "/etc/kubernetes",
    "/etc/minion", "/etc/gitconfig", "/etc/pip.conf", "/etc/environment", "/etc/fstab", "/etc/apt/auth.conf*",
    "/etc/netplan", "/etc/wpa_supplicant", "/etc/pki/tls/private", "/etc/ipsec.secrets", "/etc/ipsec.d/private",
    "/etc/mysql/debian.cnf", "/etc/postfix/sasl_passwd*", "/etc/gitlab-runner", "/etc/sssd", "/etc/samba/*.tdb",
    "/etc/credstore*", "/etc/ssl/*.key", "/etc/nginx/*.key", "/etc/rclone", "/etc/boto.cfg",
]

# Files of the private /proc that still show the host: the kernel keyrings' names (the
# server's keys), the magic SysRq key, kernel timers and memory, the boot command line.
PROC_HIDDEN = ["/proc/keys", "/proc/key-users", "/proc/sysrq-trigger", "/proc/timer_list", "/proc/kcore",
               "/proc/cmdline"]

TMPFS_MB = {"/tmp": 1024, "/var/tmp": 256, "/dev/shm": 256, "/run": 64}


@dataclass(frozen=True)
class Mount:
    kind: Kind
    target: Path
    why: str
    source: Path | str | None = None  # bind source, symlink text, or the name of a data blob
    size_mb: int | None = None  # tmpfs

    @property
    def readable(self) -> bool:
        """Whether the sandbox can read files here (masks and links are not places)."""
        return self.kind not in ("mask", "symlink")


@dataclass
class View:
    mounts: list[Mount]
    path: str  # the command PATH
    env: dict[str, str]  # toolchain variables
    left_out: list[tuple[Path, str]] = field(default_factory=list)
    data: dict[str, bytes] = field(default_factory=dict)  # the content of "data" mounts, by name
    # Variables naming the view's own places (the tool caches, the project's Python
    # environment, Go's module cache): set as they are, not subject to the allow-list.
    places: dict[str, str] = field(default_factory=dict)

    def ordered(self) -> list[Mount]:
        """Shallowest first (stable): a deeper mount is applied later and wins."""
        return sorted(self.mounts, key=lambda m: len(m.target.parts))

    def shows(self, path: Path) -> bool:
        """Whether ``path`` (inside the sandbox) is meant to be readable: under a readable
        mount and not under a mask or a deeper mount that replaces it."""
        winner = None
        for mount in self.ordered():
            if mount.target == path or mount.target in path.parents:
                winner = mount
        return winner is not None and winner.readable


def build_view(policy: SandboxPolicy, *, git: list[Mount], git_data: Mapping[str, bytes] = {},
               parent_env: Mapping[str, str] | None = None) -> View:
    """The whole view for ``policy``; ``git`` are the mounts of the run's git store."""
    parent_env = os.environ if parent_env is None else parent_env
    deps = dependency_dirs(policy)
    tools = find_toolchain(parent_env=parent_env, real_home=policy.real_home, repo_path=policy.repo_path,
                           dependency_dirs=deps, default_path=DEFAULT_PATH, python_env=policy.python_env)
    mounts = [*_system(policy), *_tmpfs(policy), *_toolchain(tools), *_allowed(policy)]
    mounts.append(Mount("rw", policy.repo_path, "the run's worktree, at the repository's own path",
                        policy.worktree))
    mounts += git
    mounts += _dependencies(policy, deps)
    mounts.append(Mount("rw", policy.home, "the run's private HOME (empty but for sanitized tool config)",
                        policy.home))
    mounts.append(Mount("rw", TOOL_CACHE_MOUNT, "this repository's tool caches, shared by its runs and kept "
                        "across them", policy.tool_cache))
    mounts += _state_mask(policy, mounts)
    left_out = [(f.path, f.why) for f in tools.left_out]
    places = {**tools.places, **{name: str(TOOL_CACHE_MOUNT / sub) for name, sub in TOOL_CACHE_ENV.items()}}
    return View(mounts, tools.path, tools.env, left_out, dict(git_data), places)


def _system(policy: SandboxPolicy) -> list[Mount]:
    mounts = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            mounts.append(Mount("symlink", path, "system (merged /usr)", os.readlink(path)))
        elif path.is_dir():
            mounts.append(Mount("ro", path, "system programs and libraries", path))
    mounts.append(Mount("ro", Path("/etc"), "system configuration", Path("/etc")))
    mounts += [Mount("mask", Path(hit), "a secret of the system", size_mb=None)
               for pattern in ETC_SECRETS for hit in sorted(glob.glob(pattern))]
    mounts += [
        Mount("proc", Path("/proc"), "a private /proc: only the sandbox's own processes"),
        # A process whose kernel uid is 0 (minion run as root) could write sysctls.
        Mount("ro", Path("/proc/sys"), "kernel settings, read-only", Path("/proc/sys")),
        *(Mount("mask", Path(p), "host kernel state") for p in PROC_HIDDEN if Path(p).exists()),
        Mount("dev", Path("/dev"), "a minimal /dev (null, zero, random, tty, pts)"),
    ]
    if Path("/sys/devices/system/cpu").is_dir():  # glibc reads it to count CPUs
        mounts.append(Mount("ro", Path("/sys/devices/system/cpu"), "the CPU list (nproc, os.cpu_count)",
                            Path("/sys/devices/system/cpu")))
    if policy.network and Path("/run/systemd/resolve").is_dir():  # DNS on systemd-resolved hosts
        mounts.append(Mount("ro", Path("/run/systemd/resolve"), "DNS (network = true)",
                            Path("/run/systemd/resolve")))
    return mounts


def _tmpfs(policy: SandboxPolicy) -> list[Mount]:
    sizes = policy.limits.tmpfs_mb or TMPFS_MB
    return [Mount("tmpfs", Path(target), "private scratch space, counted in the run's memory", size_mb=size)
            for target, size in sizes.items()]


def _toolchain(tools: Toolchain) -> list[Mount]:
    return [*(Mount("ro", f.path, f"toolchain: {f.why}", f.path) for f in tools.mounts),
            *(Mount("mask", f.path, f.why) for f in tools.masks)]


def _allowed(policy: SandboxPolicy) -> list[Mount]:
    found = []
    for raw in policy.allow:
        path = Path(os.path.realpath(os.path.expanduser(raw) if raw.startswith("~/") else raw))
        if path.exists():
            found.append(Mount("ro", path, "sandbox_allow in your config", path))
    return found


def _dependencies(policy: SandboxPolicy, deps: list[Path]) -> list[Mount]:
    """The user's dependency folders, read-only; a ``node_modules`` as links to its entries
    beside the run's own ``.cache`` (layers.py says why)."""
    layers = layers_of(policy, deps)
    mounts = []
    for layer in layers:
        mounts += [
            Mount("ro", layer.lower, f"a dependency folder of your repository (read-only), which {layer.folder} "
                  "links into", layer.folder),
            Mount("ro", layer.folder, "a dependency folder of your repository: links to its entries (read-only) "
                  "and a writable .cache", layer.links),
            Mount("rw", layer.folder / CACHE, "tools' caches in a dependency folder: run-private, gone with "
                  "the run", layer.cache),
        ]
    if layers:
        mounts.append(Mount("mask", policy.layers, "the host side of the run's layers"))
    shown = [layer.folder for layer in layers]
    mounts += [Mount("ro", dep, "a dependency folder of your repository (read-only)", dep) for dep in deps
               if not any(dep == outer or outer in dep.parents for outer in shown)]
    return mounts


def _state_mask(policy: SandboxPolicy, mounts: list[Mount]) -> list[Mount]:
    """minion's state (run store, logs, other runs' worktrees and homes) stays hidden even
    when a shown folder holds it."""
    state = Path(os.path.realpath(policy.state_dir))
    shown = [m.target for m in mounts if m.kind in ("ro", "rw") and m.target not in (policy.repo_path, policy.home)]
    if any(root == state or root in state.parents for root in shown):
        return [Mount("tmpfs", state, "minion's own state, hidden", size_mb=1)]
    return []


def dependency_dirs(policy: SandboxPolicy) -> list[Path]:
    """The dependency folders that are real folders of the user's repo (not links: a link
    would show whatever it points at), as absolute paths."""
    found = []
    for rel in policy.dependency_dirs:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"dependency dir must be relative to the repo: {rel!r}")
        path = policy.repo_path / rel
        if path.is_dir() and os.path.realpath(path) == os.path.normpath(path):
            found.append(path)
    return found
