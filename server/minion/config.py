"""Settings, layered: defaults < user file < repo < editor < flags.

The user file is ``$XDG_CONFIG_HOME/minion/config.toml``; the repo's is
``.minion/config.toml`` or ``[tool.minion]`` in ``pyproject.toml``. Editors pass the same
keys as ``initializationOptions`` and via ``workspace/configuration`` (section ``minion``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .context.todos import DEFAULT_PATTERNS
from .errors import ConfigError
from .sandbox import DEFAULT_DEPENDENCY_DIRS

DEFAULT_MODEL = "anthropic:claude-sonnet-5-5"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = DEFAULT_MODEL
    blueprint: str = "default"
    # Named check commands; unset means "detect from the repo", {} means "no checks".
    checks: dict[str, str] | None = None
    repair_rounds: int = Field(2, ge=0, le=10)
    # Judge the checks against the same checks on the snapshot: only failures the run added
    # count (blueprint/baseline.py). Off: every failure counts, as for the fix blueprint.
    baseline: bool = True

    sandbox: Literal["bwrap", "none"] = "bwrap"
    network: bool = False
    dependency_dirs: list[str] = Field(default_factory=lambda: list(DEFAULT_DEPENDENCY_DIRS))
    exclude: list[str] = Field(default_factory=lambda: [".env*", "*.pem", "id_*"])
    sandbox_allow: list[str] = Field(default_factory=list)  # more host paths to show, read-only
    git_history: int = Field(50, ge=0)
    max_commit_file_mb: int = Field(50, gt=0)  # larger files stay out of the run's branch
    sensitive_paths: list[str] = Field(default_factory=list)  # more patterns a reviewer must see first
    python: str | None = None  # the project's interpreter or venv; unset: found (blueprint/python_env.py)
    command_timeout: float = Field(600, gt=0)
    command_memory_mb: int = Field(4096, gt=0)
    mcp_timeout: float = Field(60, gt=0)  # seconds per MCP tool call (a server's own "timeout" wins)

    # Caps per run.
    max_turns: int = Field(60, gt=0)
    max_input_tokens: int = Field(3_000_000, gt=0)
    max_output_tokens: int = Field(200_000, gt=0)
    max_cost_usd: float = Field(5.0, gt=0)
    max_wall_seconds: float = Field(1800, gt=0)

    # The model endpoint.
    base_url: str | None = None  # else ANTHROPIC_BASE_URL, else the public API
    max_tokens: int = Field(16_000, gt=0)
    context_window: int = Field(200_000, gt=0)  # tokens; the loop compacts before reaching it
    request_timeout: float = Field(300, gt=0)  # seconds without a byte from the API
    max_retries: int = Field(4, ge=0)  # the SDK's own, for HTTP 408/409/429/5xx and connection errors
    stream_retries: int = Field(3, ge=0)  # minion's, for a stream that breaks after HTTP 200
    retry_backoff: float = Field(2.0, ge=0)  # seconds before minion's first retry; doubles each time
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)

    # Context and editor behaviour.
    repo_map_tokens: int = Field(2048, ge=0)
    todo_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_PATTERNS))
    max_concurrent_runs: int = Field(2, gt=0)
    # Ready worktrees kept per repository, so a run starts without a full checkout
    # (worktrees.py), and the disk they may take per repository.
    pool_size: int = Field(2, ge=0, le=32)
    pool_disk_mb: int = Field(4096, ge=0)
    # Start `minion warm` in the background (the pool, the repo map's cache) when the editor
    # opens a repository, after each run and after a save. Off: only when asked for.
    warm: bool = True
    # minion processes `minion warm` keeps ready, their imports done, for the next `minion
    # run` (standby.py); 0: every command starts from nothing.
    standby: int = Field(1, ge=0, le=16)
    push: bool = False
    resume: bool = False

    # Where runs execute (docs/fleet.md): "local" (this machine, the default) or "temporal"
    # (a fleet of `minion worker`s behind a Temporal server). User config, editor or flag only.
    executor: Literal["local", "temporal"] = "local"
    temporal_address: str = "127.0.0.1:7233"  # else MINION_TEMPORAL_ADDRESS
    temporal_namespace: str = "default"  # else MINION_TEMPORAL_NAMESPACE
    task_queue: str = "minion"  # the workers' shared task queue
    fleet_remote: str | None = None  # the git remote snapshots and branches travel by (URL or bare repo path)
    temporal_ui: str | None = None  # the web UI's URL, for links to runs; else MINION_TEMPORAL_UI, else guessed

    @field_validator("dependency_dirs")
    @classmethod
    def _repo_relative_folders(cls, folders: list[str]) -> list[str]:
        for folder in folders:
            parts = PurePosixPath(folder).parts
            if not parts or folder.startswith("/") or ".." in parts or parts[0] in (".", ".git"):
                raise ValueError(f"{folder!r} is not a folder inside the repository (like .venv)")
        return folders


# A cloned repository is not trusted with these: they could send the API key elsewhere,
# turn the sandbox or the network on, make runs free, push code, or fill the disk.
USER_ONLY_KEYS = {"base_url", "sandbox", "network", "prices", "push", "dependency_dirs", "sandbox_allow", "python",
                  "pool_size", "pool_disk_mb", "warm", "standby",
                  # the fleet: a repository must not send its runs (and its code) elsewhere
                  "executor", "temporal_address", "temporal_namespace", "task_queue", "fleet_remote", "temporal_ui"}
# A repository may lower these caps, never raise them.
CAP_KEYS = {"max_turns", "max_input_tokens", "max_output_tokens", "max_cost_usd", "max_wall_seconds",
            "command_timeout", "command_memory_mb", "mcp_timeout", "git_history",
            "max_commit_file_mb"}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "minion" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None


def repo_layer(repo_root: Path) -> tuple[dict[str, Any], str] | None:
    """The repo's own settings and where they came from, if any."""
    own = repo_root / ".minion" / "config.toml"
    if own.is_file():
        return _read_toml(own), str(own)
    pyproject = repo_root / "pyproject.toml"
    if pyproject.is_file():
        section = _read_toml(pyproject).get("tool", {}).get("minion")
        if section is not None:
            if not isinstance(section, dict):
                raise ConfigError(f"{pyproject}: [tool.minion] must be a table")
            return section, f"{pyproject} [tool.minion]"
    return None


def _normalise(layer: Mapping[str, Any]) -> dict[str, Any]:
    """Accept editor-style camelCase keys (maxCostUsd) as well as snake_case."""
    out = {}
    for key, value in layer.items():
        snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
        out[snake] = value
    return out


def _trusted_part(values: dict[str, Any], source: str, *, below: list) -> tuple[dict[str, Any], str]:
    """The repo layer, minus what a repository may not decide."""
    forbidden = sorted(USER_ONLY_KEYS & values.keys())
    if forbidden:
        raise ConfigError(
            f"{source}: {', '.join(forbidden)} can only be set in your user config "
            f"({user_config_path()}), the editor or a flag, not by a repository"
        )
    ceiling = Settings().model_dump()
    for layer, _ in below:
        ceiling.update({k: v for k, v in layer.items() if k in CAP_KEYS})
    capped = {}
    for key, value in values.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in CAP_KEYS and is_number and isinstance(ceiling.get(key), (int, float)):
            value = min(value, ceiling[key])
        capped[key] = value
    return capped, source


def validate_settings(merged: dict[str, Any], sources: dict[str, str]) -> Settings:
    try:
        return Settings(**merged)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "?"
            top = str(err["loc"][0]) if err["loc"] else key
            where = sources.get(top, "settings")
            if err["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown key '{key}'")
            else:
                problems.append(f"{where}: '{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def load_settings(
    repo_root: Path | None = None,
    *,
    editor: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge every layer; the error for a bad key names the key and the file it came from."""
    layers: list[tuple[dict[str, Any], str]] = []
    user_file = user_config_path()
    if user_file.is_file():
        layers.append((_read_toml(user_file), str(user_file)))
    if repo_root is not None:
        repo = repo_layer(repo_root)
        if repo:
            layers.append(_trusted_part(*repo, below=layers))
    if editor:
        layers.append((_normalise(editor), "editor settings"))
    if flags:
        layers.append(({k: v for k, v in flags.items() if v is not None}, "command-line flags"))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for values, source in layers:
        for key, value in values.items():
            merged[key] = value
            sources[key] = source
    return validate_settings(merged, sources)
