"""Which MCP servers a run may use, from the user's `mcp.json` and the repository's `.mcp.json`.

Both files have the `mcpServers` shape of Claude Code's `.mcp.json`:
``{"command", "args", "env"}`` for a stdio server, ``{"type": "http", "url", "headers"}``
for streamable HTTP, with ``${VAR}`` and ``${VAR:-default}`` taken from the environment.
minion adds ``"tools"`` (the allow-list: names or globs; nothing is allowed without it) and,
in the user's file only, ``"sandbox": false`` (run on the host) and ``"timeout"``.

The repository's file starts programs, so it counts only once the user trusted its exact
bytes (`minion trust`, as for repo blueprints), and even then its servers run in the
sandbox and it names no URL: the user's file alone can send anything off the machine.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import trust
from ..config import user_config_path
from ..errors import ConfigError, MinionError

REPO_FILE = ".mcp.json"
TOOL_PREFIX = "mcp__"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # tool names the API takes: mcp__<server>__<tool> within 128
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ServerEntry(BaseModel):
    """One entry of `mcpServers`, as written."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # other clients' keys are theirs

    type: Literal["stdio", "http"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)
    sandbox: bool = True
    timeout: float | None = Field(None, gt=0)


@dataclass(frozen=True)
class McpServer:
    """A server a run may start: its entry with ``${VAR}`` expanded, and where it came from."""

    name: str
    entry: ServerEntry
    source: str  # the file it came from
    from_repo: bool

    @property
    def on_host(self) -> bool:
        """HTTP servers are contacted from the host; a stdio server runs there only when the
        user's own file says ``"sandbox": false``."""
        return self.entry.type == "http" or not self.entry.sandbox

    def where(self) -> str:
        if self.entry.type == "http":
            return f"http {self.entry.url}"
        return "host" if self.on_host else "sandbox"

    def allowing(self, tool: str) -> McpServer:
        """This server with just ``tool`` allowed (a call by hand)."""
        return McpServer(self.name, self.entry.model_copy(update={"tools": [tool]}), self.source, self.from_repo)

    def allows(self, tool: str, extra: tuple[str, ...] = ()) -> bool:
        """Whether the tool may be offered: its name matches the entry's allow-list, or its
        full name (mcp__<server>__<tool>) matches one of ``extra`` (a node's own list)."""
        return (any(fnmatch.fnmatchcase(tool, p) for p in self.entry.tools)
                or any(fnmatch.fnmatchcase(tool_name(self.name, tool), p) for p in extra))


def tool_name(server: str, tool: str) -> str:
    return f"{TOOL_PREFIX}{server}__{tool}"


@dataclass
class McpConfig:
    servers: dict[str, McpServer] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # entries left out, and why


def user_mcp_path() -> Path:
    return user_config_path().parent / "mcp.json"


def load_mcp_config(repo_root: Path | None, env: Mapping[str, str] | None = None) -> McpConfig:
    """The servers of the user's file, then those of the repository's trusted file (a name
    the user's file has is the user's). Raises ConfigError for a file that cannot be read;
    an entry that may not be used is left out with a warning."""
    env = os.environ if env is None else env
    config = McpConfig()
    user = user_mcp_path()
    if user.is_file():
        for name, entry in _entries(user.read_bytes(), str(user)).items():
            _add(config, name, entry, str(user), from_repo=False, env=env)
    if repo_root is not None:
        repo_file = _trusted_repo_file(Path(repo_root), config)
        if repo_file is not None:
            for name, entry in _entries(repo_file.data, str(repo_file.path)).items():
                if name in config.servers:
                    continue
                _add(config, name, entry, str(repo_file.path), from_repo=True, env=env)
    return config


def _trusted_repo_file(repo_root: Path, config: McpConfig) -> trust.BlueprintFile | None:
    try:
        found = trust.repo_mcp_file(repo_root)
    except MinionError as e:
        config.warnings.append(str(e))
        return None
    if found is None:
        return None
    file, trusted = found
    if not trusted:
        config.warnings.append(
            f"{file.path} (sha256 {file.short}…) is not trusted, so none of its MCP servers start; "
            f"read it, then run: minion trust --repo {repo_root}")
        return None
    return file


def _entries(data: bytes, source: str) -> dict[str, dict[str, Any]]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{source} is not valid JSON: {e}") from None
    servers = parsed.get("mcpServers", {}) if isinstance(parsed, dict) else None
    if not isinstance(servers, dict) or not all(isinstance(v, dict) for v in servers.values()):
        raise ConfigError(f"{source}: `mcpServers` must be an object of server entries")
    return servers


def _add(config: McpConfig, name: str, raw: dict[str, Any], source: str, *, from_repo: bool,
         env: Mapping[str, str]) -> None:
    def skip(why: str) -> None:
        config.warnings.append(f"MCP server {name!r} in {source} is left out: {why}")

    if not _NAME.match(name):
        return skip("its name must be 1-40 letters, digits, - or _ (it becomes part of tool names)")
    try:
        entry = ServerEntry.model_validate(_expand(raw, env))
    except (ValidationError, KeyError) as e:
        return skip(e.args[0] if isinstance(e, KeyError) else _first_error(e))
    if entry.type == "http" and not entry.url:
        return skip('an http server needs a "url"')
    if entry.type == "stdio" and not entry.command:
        return skip('a stdio server needs a "command"')
    if from_repo and entry.type == "http":
        return skip("a repository may not name URLs; put the server in your own "
                    f"{user_mcp_path()} if you want it")
    if from_repo and not entry.sandbox:
        return skip('a repository may not run a server outside the sandbox ("sandbox": false is '
                    f"for your own {user_mcp_path()})")
    config.servers[name] = McpServer(name, entry, source, from_repo)


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string; KeyError names an unset VAR."""
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise KeyError(f"${{{name}}} is not set in the environment")
        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, env) for k, v in value.items()}
    return value


def _first_error(e: ValidationError) -> str:
    error = e.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
