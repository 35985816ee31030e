"""What a sandbox is asked to be: the run's paths, limits, and the environment allow-list."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import state

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

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
GIT_STORES, GIT_CACHE = "gitstores", "gitcache"  # folders of the state dir
TOOL_CACHES = "caches"  # folder of the state dir: each repository's tool caches
LAYERS = ".minion-layers"  # folder of the run's HOME: its writable layers over the dependency folders
MB = 1024 * 1024

# Without the network, tools fail at once instead of trying a download.
OFFLINE_ENV = {"GOPROXY": "off", "CARGO_NET_OFFLINE": "true"}


@dataclass
class Limits:
    timeout_s: float = 600
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 1024
    # What all commands of one Sandbox (one run) may add to the worktree's filesystem, and
    # never more than half of its free space at the first command.
    max_disk_mb: int = 10_240
    max_inodes: int = 200_000  # files and folders they may add, likewise never more than half
    tmpfs_mb: dict[str, int] | None = None  # private tmpfs sizes (None: view.TMPFS_MB)
    output_bytes: int = 32_000  # head + tail kept, with a marker between


@dataclass
class SandboxPolicy:
    repo_path: Path  # where the run's worktree appears: the user's repo root
    worktree: Path  # the run's worktree on the host
    home: Path  # private writable HOME
    # repo-relative ignored folders bound read-only from the user's repo (if they exist there)
    dependency_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_DEPENDENCY_DIRS))
    network: bool = False
    env_allow: list[str] = field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))  # globs
    limits: Limits = field(default_factory=Limits)
    mode: Literal["bwrap", "none"] = "bwrap"
    allow: list[str] = field(default_factory=list)  # extra read-only paths (sandbox_allow)
    git_history: int = 50  # first-parent commits of the snapshot that git inside sees
    exclude: list[str] = field(default_factory=list)  # gitignore patterns whose blobs git inside never has
    # The project's Python environment the host found (a venv, perhaps outside the repo:
    # poetry's, virtualenvwrapper's), shown read-only at its real path, its bin first on PATH.
    python_env: Path | None = None
    # Seams beyond the contract: the home whose toolchain homes are found (tests pass a
    # fake one), and minion's state dir: the git stores live there, and it is hidden if a
    # shown folder holds it.
    real_home: Path = field(default_factory=Path.home)
    state_dir: Path = field(default_factory=state.state_dir)

    @property
    def git_store(self) -> Path:
        """Where the run's private git store (gitstore.py) lives on the host."""
        return self.state_dir / GIT_STORES / self.worktree.name

    @property
    def git_cache(self) -> Path:
        """The git stores' cache of history windows, shared by the runs."""
        return self.state_dir / GIT_CACHE

    @property
    def tool_cache(self) -> Path:
        """This repository's tool caches (Go's build cache, pip's, npm's), shared by its
        runs and kept across them: one folder per real repo path."""
        key = hashlib.sha256(os.fsencode(os.path.realpath(self.repo_path))).hexdigest()[:16]
        return self.state_dir / TOOL_CACHES / key

    @property
    def layers(self) -> Path:
        """The run's writable layers over the dependency folders: in its HOME, so they go
        when the run's HOME does."""
        return self.home / LAYERS


def _env_name_allowed(name: str, allow: list[str]) -> bool:
    if any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in ENV_DENY):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in allow)


def sandbox_env(policy: SandboxPolicy, toolchain_env: Mapping[str, str], path: str,
                parent: Mapping[str, str] | None = None, places: Mapping[str, str] = {}) -> dict[str, str]:
    """The command's whole environment: allow-listed names from ``parent``, the toolchain's
    variables and PATH (only folders the sandbox shows), plus our own: ``places`` (where the
    view put the tool caches and the project's Python), and no bytecode files (``__pycache__``
    would end up in the run's commit), no downloads without the network."""
    parent = os.environ if parent is None else parent
    env = {k: v for k, v in parent.items() if _env_name_allowed(k, policy.env_allow)}
    env.update({k: v for k, v in toolchain_env.items() if _env_name_allowed(k, policy.env_allow)})
    env.update(places)
    env.update(PATH=path, HOME=str(policy.home), TMPDIR="/tmp", MINION_SANDBOX="1", PYTHONDONTWRITEBYTECODE="1")
    if not policy.network:
        env.update(OFFLINE_ENV)
    return env
