"""Run commands for the agent and the checks inside a bubblewrap sandbox, with limits.

The policy (see DESIGN.md, Sandbox):

* the filesystem root is read-only; ``/tmp``, ``/run`` and minion's state dir are private tmpfs;
* the run's worktree is bound read-write *at the user's repo path*, so absolute paths,
  editable installs and venv shebangs resolve to the run's copy;
* the user's ignored dependency folders (``.venv`` ...) are bound read-only at their places;
* git works read-only: the user's ``.git`` is bound read-only at ``/run/minion/git`` and the
  worktree's ``.git`` pointer file is replaced (read-only) by one that points there;
* ``HOME`` is a private writable dir; the real home stays readable (toolchains live there)
  but its secret places are masked;
* no network unless the policy says so; the environment comes from an allow-list;
* limits: a timeout that kills everything, memory and file size rlimits, a process cap,
  a cap on what the run's commands add to the disk, and output cut to a head and a tail.

``build_bwrap_argv`` turns a policy into the exact bwrap command line, so it can be read
and unit-tested on its own. ``Sandbox.run`` adds the process handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import state
from .errors import SandboxUnavailable

log = logging.getLogger("minion.sandbox")

DEFAULT_DEPENDENCY_DIRS = [".venv", "venv", "node_modules"]

DEFAULT_ENV_ALLOW = [
    "PATH", "LANG", "LANGUAGE", "LC_*", "TERM", "COLORTERM", "NO_COLOR", "TZ",
    "PYENV_*", "VIRTUAL_ENV", "CONDA_PREFIX",
    "GOPATH", "GOROOT", "GOFLAGS",
    "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN",
    "NVM_DIR", "NVM_BIN", "NODE_PATH",
    "JAVA_HOME",
]

# Never passed, even when allow-listed (matched against the upper-cased name).
ENV_DENY = [
    "ANTHROPIC_*", "OPENAI_*", "AWS_*", "GITHUB_*", "GH_*",
    "*_TOKEN", "*TOKEN*", "*_KEY", "*_SECRET*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*",
]

DEFAULT_MASKED_HOME_PATHS = [
    "~/.ssh", "~/.aws", "~/.gnupg", "~/.netrc", "~/.git-credentials", "~/.config/gh",
    "~/.docker", "~/.kube", "~/.npmrc", "~/.pypirc", "~/.config/minion", "~/.anthropic",
    # Beyond the list: other places where agents and clouds keep credentials.
    "~/.claude", "~/.config/gcloud", "~/.azure", "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    # git config may hold tokens (url.insteadOf, http.extraHeader); git inside reads the
    # private HOME's anyway. Shell histories hold pasted `export TOKEN=...` lines.
    "~/.gitconfig", "~/.config/git", "~/.bash_history", "~/.zsh_history",
]

# HOME moves to a private dir, but these tools default to a folder under $HOME. When the
# variable is unset and the folder exists in the real home, point the tool at it.
TOOLCHAIN_HOMES = {
    "PYENV_ROOT": ".pyenv",
    "RUSTUP_HOME": ".rustup",
    "CARGO_HOME": ".cargo",
    "NVM_DIR": ".nvm",
    "GOPATH": "go",
}

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
GIT_MOUNT = Path("/run/minion/git")  # where the user's .git appears inside (read-only)
TERM_GRACE_S = 2.0  # between SIGTERM and SIGKILL on timeout
DRAIN_GRACE_S = 1.0  # how long to wait for output after the command has ended
READ_CHUNK = 64 * 1024
DISK_POLL_S = 0.02  # how often a running command's disk use is measured
MB = 1024 * 1024


@dataclass
class Limits:
    timeout_s: float = 600
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 1024
    # What all commands of one Sandbox (one run) may add to the worktree's filesystem, and
    # never more than half of its free space at the first command.
    max_disk_mb: int = 10_240
    output_bytes: int = 32_000  # head + tail kept, with a marker between


@dataclass
class SandboxPolicy:
    repo_path: Path  # where the run's worktree appears: the user's repo root
    worktree: Path  # the run's worktree on the host
    git_common_dir: Path  # the user's .git (read-only inside)
    home: Path  # private writable HOME
    # repo-relative ignored folders bound read-only from the user's repo (if they exist there)
    dependency_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_DEPENDENCY_DIRS))
    network: bool = False
    env_allow: list[str] = field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))  # globs
    # "~/..." (relative to real_home) or absolute; masked only if they exist
    masked_home_paths: list[str] = field(default_factory=lambda: list(DEFAULT_MASKED_HOME_PATHS))
    limits: Limits = field(default_factory=Limits)
    mode: Literal["bwrap", "none"] = "bwrap"
    # Seams beyond the contract: the home whose "~/" paths are masked (tests pass a fake
    # one), and minion's state dir to hide (None: state.state_dir()).
    real_home: Path = field(default_factory=Path.home)
    state_dir: Path | None = None


@dataclass
class CommandResult:
    exit_code: int  # -N when minion killed it with signal N (timeout); the shell's 128+N
    #                 when the command itself died from signal N inside the sandbox
    output: str  # stdout+stderr interleaved, cut to head+tail
    timed_out: bool
    truncated: bool
    duration_s: float


# ---------------------------------------------------------------------------------------
# Environment


def _env_name_allowed(name: str, allow: list[str]) -> bool:
    if any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in ENV_DENY):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in allow)


def sandbox_env(policy: SandboxPolicy, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The command's whole environment: allow-listed names from ``parent``, plus our own."""
    parent = os.environ if parent is None else parent
    env = {k: v for k, v in parent.items() if _env_name_allowed(k, policy.env_allow)}
    for name, rel in TOOLCHAIN_HOMES.items():
        folder = policy.real_home / rel
        if name not in env and _env_name_allowed(name, policy.env_allow) and folder.is_dir():
            env[name] = str(folder)
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(HOME=str(policy.home), TMPDIR="/tmp", MINION_SANDBOX="1")
    return env


# ---------------------------------------------------------------------------------------
# What gets mounted where


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


def limits_script(limits: Limits, *, nproc: bool) -> str:
    """Shell prelude that sets the rlimits, then runs the command (passed as $1).

    ``ulimit`` without -S/-H sets both, so the command cannot raise them back. The process
    cap is an rlimit only where the kernel enforces it (see ProcessCap).
    """
    flags = f"-v {limits.memory_mb * 1024} -f {limits.max_file_mb * 1024}"
    if nproc:
        flags += f" -u {limits.max_processes}"
    # bash -c, not -lc: login profiles (Debian's /etc/profile) reset PATH, which loses
    # pyenv shims and venvs.
    return f'ulimit {flags} || exit 125\nexec /bin/bash -c "$1"'


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


# ---------------------------------------------------------------------------------------
# The process cap
#
# RLIMIT_NPROC is enforced per (user namespace, uid), so for a normal user it caps just
# this sandbox when set inside bwrap's user namespace. When minion runs as root the
# sandbox's kernel uid is still 0 (bwrap maps the inner uid onto the caller's) and the
# kernel skips the check for uid 0, whatever the inner uid. Then we put the sandbox in a
# pids cgroup of its own, if we may create one; else there is no cap (and we say so).


@dataclass(frozen=True)
class ProcessCap:
    kind: Literal["rlimit", "cgroup", "none"]
    cgroup_parent: Path | None = None


_cgroup_counter = itertools.count(1)


def pids_cgroup_candidates(proc_self_cgroup: str, mountinfo: str) -> list[tuple[Path, bool]]:
    """``(dir, is_v2)`` where a child cgroup with a pids limit might go, nearest first."""
    mounts = []  # (fstype, root, mountpoint, superopts)
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # \040
            mounts.append((rfields[0], fields[3], point, rfields[2].split(",")))
    found = []
    for line in proc_self_cgroup.splitlines():
        hier, controllers, path = line.split(":", 2)
        v2 = hier == "0" and controllers == ""
        if not v2 and "pids" not in controllers.split(","):
            continue
        for fstype, root, point, opts in mounts:
            if (fstype == "cgroup2") if v2 else (fstype == "cgroup" and "pids" in opts):
                if not Path(path).is_relative_to(root):
                    continue
                top = Path(point)
                here = top / Path(path).relative_to(root)
                while True:
                    found.append((here, v2))
                    if here == top:
                        break
                    here = here.parent
                break
    return found


def _cgroup_usable(directory: Path, v2: bool) -> bool:
    try:
        if v2 and "pids" not in (directory / "cgroup.subtree_control").read_text().split():
            return False  # children of this cgroup would not get the pids controller
        probe = directory / f"minion-{os.getpid()}-probe"
        probe.mkdir(exist_ok=True)
        try:
            (probe / "pids.max").write_text("16")
        finally:
            probe.rmdir()
        return True
    except OSError:
        return False


def _remove_stale_cgroups(parent: Path) -> None:
    """Empty leftovers of minion processes that died before cleaning up."""
    for child in parent.glob("minion-*-*"):
        try:
            pid = int(child.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                child.rmdir()
            except OSError:
                pass
        except (ValueError, OSError):
            pass


@functools.cache
def process_cap() -> ProcessCap:
    """How this process caps the number of processes in a sandbox (decided once)."""
    if os.geteuid() != 0:
        return ProcessCap("rlimit")
    try:
        candidates = pids_cgroup_candidates(
            Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text()
        )
    except OSError:
        candidates = []
    for directory, v2 in candidates:
        if _cgroup_usable(directory, v2):
            _remove_stale_cgroups(directory)
            return ProcessCap("cgroup", directory)
    log.warning(
        "minion runs as root and cannot create a pids cgroup, so sandboxed commands have "
        "no process limit (a fork bomb is stopped only by the timeout). Run minion as a "
        "normal user, or give it a writable cgroup (pids controller)."
    )
    return ProcessCap("none")


class _PidsCgroup:
    """A cgroup made for one command: ``pids.max``, then kill-all and removal at the end."""

    def __init__(self, parent: Path, max_processes: int):
        self.path = parent / f"minion-{os.getpid()}-{next(_cgroup_counter)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_processes))

    def wrap(self, argv: list[str]) -> list[str]:
        """Join the cgroup before exec, so every descendant is counted from the start."""
        join = 'echo $$ > "$0/cgroup.procs" || exit 125; exec "$@"'
        return ["/bin/sh", "-c", join, str(self.path), *argv]

    async def release(self) -> None:
        """SIGKILL whatever is left (daemons that escaped the process group), then rmdir."""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                pids = (self.path / "cgroup.procs").read_text().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    log.warning("could not remove cgroup %s", self.path)
                    return
                await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------------------
# Output


class _HeadTail:
    """Keeps the first and last bytes of a stream; memory stays bounded by ``limit``."""

    def __init__(self, limit: int):
        self.head_cap = limit // 2
        self.tail_cap = limit - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def cut(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        if not self.cut:
            return (self.head + self.tail).decode("utf-8", errors="replace")
        marker = f"\n… [minion: {self.cut} bytes cut] …\n"
        return (
            self.head.decode("utf-8", errors="replace")
            + marker
            + self.tail.decode("utf-8", errors="replace")
        )


async def _pump(stream: asyncio.StreamReader, sink: _HeadTail) -> None:
    while chunk := await stream.read(READ_CHUNK):
        sink.feed(chunk)


# ---------------------------------------------------------------------------------------
# The sandbox


_probe_cache: dict[str, str | None] = {}  # bwrap path -> None (works) or the error message

_MISSING_FIX = (
    "minion runs every command in a bubblewrap sandbox, but `bwrap` is not on PATH. "
    "Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf "
    'install bubblewrap`; Arch: `sudo pacman -S bubblewrap`), or set `sandbox = "none"` '
    "in the minion config to run commands unsandboxed (not recommended)."
)


@functools.cache
def _supports_disable_userns(bwrap: str) -> bool:
    """``--disable-userns`` came with bubblewrap 0.8 (Ubuntu 22.04 ships 0.6)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--disable-userns" in done.stdout + done.stderr


def _probe_argv(bwrap: str) -> list[str]:
    """A trivial sandbox with the same namespaces as a real run."""
    disable = ["--disable-userns"] if _supports_disable_userns(bwrap) else []
    return [
        bwrap, "--unshare-user", *disable, "--unshare-pid", "--unshare-ipc",
        "--unshare-uts", "--unshare-cgroup-try", "--unshare-net", "--die-with-parent",
        "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc",
        "--dev", "/dev", "--tmpfs", "/tmp", "--", "true",
    ]


def _probe_failure_message(argv: list[str], detail: str) -> str:
    lower = detail.lower()
    if "unknown option" in lower:
        hint = "This bubblewrap is too old for minion: install bubblewrap 0.6 or newer"
    elif "slave" in lower or "mount" in lower:
        hint = (
            "This usually means minion runs inside a container that forbids new mount "
            "namespaces. Run the container with user namespaces allowed (e.g. docker "
            "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, or "
            "`--privileged`)"
        )
    else:
        hint = (
            "The kernel refused to create user namespaces. On Ubuntu 23.10+ AppArmor "
            "restricts them: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` "
            "(or add an AppArmor profile for /usr/bin/bwrap); on older Debian: `sudo sysctl "
            "-w kernel.unprivileged_userns_clone=1`; also check `user.max_user_namespaces` > 0"
        )
    return (
        f"bubblewrap cannot create a sandbox on this host: `{' '.join(argv)}` failed:\n"
        f"{detail}\n{hint}, or set `sandbox = \"none\"` in the minion config to run "
        "commands unsandboxed (not recommended)."
    )


class Sandbox:
    def __init__(self, policy: SandboxPolicy):
        if policy.mode not in ("bwrap", "none"):
            raise ValueError(f"unknown sandbox mode {policy.mode!r}")
        self.policy = policy
        self._git_config: Path | None = None  # the sanitized copy of .git/config, made once
        self.disk_budget: int | None = None  # bytes the run's commands may add to the disk
        self.disk_used = 0  # bytes they have added so far (less what they freed)

    @staticmethod
    def check_available() -> None:
        """Raise SandboxUnavailable, naming the fix, unless bwrap can make a sandbox here.

        The probe result is cached per process (and per bwrap binary)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(_MISSING_FIX)
        if bwrap not in _probe_cache:
            argv = _probe_argv(bwrap)
            try:
                done = subprocess.run(
                    argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
                )
                detail = None if done.returncode == 0 else (
                    done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                detail = str(exc)
            _probe_cache[bwrap] = None if detail is None else _probe_failure_message(argv, detail)
        if (message := _probe_cache[bwrap]) is not None:
            raise SandboxUnavailable(message)

    async def run(
        self, command: str, *, cwd: Path | None = None, timeout_s: float | None = None
    ) -> CommandResult:
        """Run ``bash -c command`` in the sandbox; cwd (default: the repo root) must be
        inside the repo. Command failures, timeouts and limits come back in the result."""
        policy = self.policy
        rel_cwd = _resolve_cwd(policy, cwd)
        if not (policy.worktree / rel_cwd).is_dir():
            message = f"minion: no such directory: {policy.repo_path / rel_cwd}\n"
            return CommandResult(1, message, timed_out=False, truncated=False, duration_s=0.0)
        if policy.mode == "bwrap":
            self.check_available()
        else:
            log.warning(
                'sandbox = "none": running %r UNSANDBOXED in %s, with full access to your '
                "files, network and credentials", command, policy.worktree,
            )
        policy.home.mkdir(parents=True, exist_ok=True)
        timeout = policy.limits.timeout_s if timeout_s is None else timeout_s
        env = sandbox_env(policy)
        with _git_pointer_fd(policy) as pointer_fd:
            if policy.mode == "bwrap":
                bwrap = shutil.which("bwrap") or "bwrap"
                if pointer_fd is not None and self._git_config is None:
                    self._git_config = sanitized_git_config(policy)
                argv = build_bwrap_argv(
                    policy, command, cwd=rel_cwd, env=env, git_pointer_fd=pointer_fd, git_config=self._git_config,
                    nproc_rlimit=process_cap().kind == "rlimit",
                    disable_userns=_supports_disable_userns(bwrap), bwrap=bwrap,
                )
                host_cwd = None
            else:
                argv = build_plain_argv(policy, command)
                host_cwd = policy.worktree / rel_cwd
            return await self._execute(argv, env, host_cwd, pointer_fd, timeout)

    async def _execute(self, argv, env, host_cwd, pass_fd, timeout) -> CommandResult:
        started = time.monotonic()
        output = _HeadTail(self.policy.limits.output_bytes)
        disk = os.open(self.policy.worktree, os.O_RDONLY | os.O_DIRECTORY)  # a handle on its filesystem
        free_at_start = _free_bytes(disk)
        if self.disk_budget is None:
            self.disk_budget = min(self.policy.limits.max_disk_mb * MB, free_at_start // 2)
        parent = process_cap().cgroup_parent
        cgroup = _PidsCgroup(parent, self.policy.limits.max_processes) if parent else None
        timed_out = disk_full = False
        proc = watchdog = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *(cgroup.wrap(argv) if cgroup else argv),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=host_cwd,
                start_new_session=True,  # its own process group, so we can kill all of it
                pass_fds=() if pass_fd is None else (pass_fd,),
            )
            reader = asyncio.create_task(_pump(proc.stdout, output))
            floor = free_at_start - (self.disk_budget - self.disk_used)
            watchdog = asyncio.create_task(_watch_disk(proc, disk, floor))
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                await _terminate(proc)
            await _finish(reader)
            disk_full = watchdog.done() and watchdog.result()
        finally:
            # Also on cancellation: nothing we started may outlive the call.
            if watchdog is not None:
                watchdog.cancel()
            if proc is not None:
                if proc.returncode is None:
                    _killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
                _killpg(proc.pid, signal.SIGKILL)  # leftovers in the group (mode "none")
            if cgroup:
                await cgroup.release()
            self.disk_used += free_at_start - _free_bytes(disk)
            os.close(disk)
        text = output.text()
        if disk_full:
            text += (f"\n[minion: killed: the run's commands may add at most {self.disk_budget // MB} MB "
                     "to the disk; delete files to go on]\n")
        return CommandResult(
            exit_code=proc.returncode,
            output=text,
            timed_out=timed_out,
            truncated=output.cut > 0,
            duration_s=time.monotonic() - started,
        )


async def _watch_disk(proc: asyncio.subprocess.Process, disk: int, floor: int) -> bool:
    """SIGKILL the command's group once the free space on the filesystem of the ``disk`` fd
    drops below ``floor``; whether it did. Free space is what is measured, so other writers
    on that filesystem count against the run too."""
    while proc.returncode is None:
        await asyncio.sleep(DISK_POLL_S)
        if _free_bytes(disk) < floor:
            _killpg(proc.pid, signal.SIGKILL)
            return True
    return False


def _free_bytes(fd: int) -> int:
    st = os.fstatvfs(fd)
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def _git_pointer_fd(policy: SandboxPolicy):
    """A pipe holding the ``.git`` pointer text for bwrap to read, or None."""
    pointer = worktree_git_pointer(policy) if policy.mode == "bwrap" else None
    if pointer is None:
        yield None
        return
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, pointer.encode())  # a few bytes: fits the pipe buffer
        os.close(write_fd)
        yield read_fd
    finally:
        os.close(read_fd)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it after a grace period. In bwrap mode SIGTERM already
    ends bwrap, and --die-with-parent then kills the whole sandbox."""
    _killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), TERM_GRACE_S)
    except TimeoutError:
        _killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _finish(reader: asyncio.Task) -> None:
    """Collect the rest of the output. A process that escaped (possible only in mode
    "none" without a cgroup) may hold the pipe open: stop waiting after a grace period."""
    try:
        await asyncio.wait_for(reader, DRAIN_GRACE_S)
    except TimeoutError:
        pass  # wait_for has cancelled the reader

