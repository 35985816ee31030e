"""What a sandbox is asked to be: the run's paths, limits, and the environment allow-list."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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

