"""`minion mcp list` and `minion mcp call`: the configured servers, tried by hand.

A stdio server runs where a run would run it: in a sandbox over a scratch checkout of the
repository's current state (a snapshot, as a run takes one), never over the user's files.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import MinionError
from ..mcp_servers.config import McpConfig, McpServer, load_mcp_config, tool_name
from ..mcp_servers.connection import Connection, ServerFailed, ToolSpec
from ..mcp_servers.toolbox import McpToolbox
from ..sandbox import Limits
from ..snapshot import discard_snapshot, take_snapshot
from ..state import logs_dir, worktrees_dir
from .create import sandbox_for


@dataclass
class ServerReport:
    server: McpServer
    tools: list[ToolSpec] = field(default_factory=list)
    error: str | None = None  # why its tools could not be listed


@contextlib.asynccontextmanager
async def _scratch(repo_root: Path, settings: Settings) -> AsyncIterator[tuple[Path, Any]]:
    """A snapshot's worktree and a sandbox over it, for as long as the servers run."""
    snapshot = take_snapshot(repo_root, f"mcp-{secrets.token_hex(3)}", worktrees_dir=worktrees_dir(),
                             exclude=settings.exclude)
    try:
        sandbox = sandbox_for(snapshot, settings)
        yield snapshot.worktree, None if settings.sandbox == "none" else sandbox.server_command
    finally:
        discard_snapshot(snapshot)


async def list_servers(repo_root: Path, settings: Settings) -> tuple[McpConfig, list[ServerReport]]:
    """Every configured server with its tools (each started, listed and stopped)."""
    config = load_mcp_config(repo_root)
    reports = [ServerReport(server) for server in config.servers.values()]
    if not reports:
        return config, reports
    async with _scratch(repo_root, settings) as (worktree, launch):
        for report in reports:
            with tempfile.TemporaryFile("w+") as errlog:
                connection = Connection(report.server, cwd=worktree, launch=None if report.server.on_host else launch,
                                        errlog=errlog)
                try:
                    report.tools = await connection.start()
                except ServerFailed as e:
                    report.error = _with_stderr(str(e), errlog)
                finally:
                    await connection.stop()
    return config, reports


async def call_by_hand(repo_root: Path, settings: Settings, server_name: str, tool: str,
                       arguments: dict[str, Any]) -> tuple[str, bool]:
    """One call of any tool of the server (the user asks for it: no allow-list), its text
    capped and redacted as a run's would be."""
    config = load_mcp_config(repo_root)
    server = config.servers.get(server_name)
    if server is None:
        known = ", ".join(config.servers) or "none"
        raise MinionError(f"no MCP server named {server_name!r} (configured: {known}; see `minion mcp list`)")
    by_hand = McpConfig({server_name: server.allowing(tool)})
    async with _scratch(repo_root, settings) as (worktree, launch):
        toolbox = McpToolbox(by_hand, cwd=worktree, launch=launch, log_dir=logs_dir() / "mcp-by-hand",
                             timeout=settings.mcp_timeout, output_bytes=Limits().output_bytes,
                             emit=lambda *a, **k: None)
        try:
            await toolbox.definitions()
            if server_name in toolbox.failed:
                raise MinionError(toolbox.failed[server_name])
            names = [t.name for t in toolbox.connections[server_name].tools]
            if tool not in names:
                raise MinionError(f"the MCP server {server_name!r} has no tool {tool!r}; it has: {', '.join(names)}")
            return await toolbox.call(tool_name(server_name, tool), arguments)
        finally:
            await toolbox.close()


def _with_stderr(message: str, errlog: Any) -> str:
    errlog.seek(0)
    tail = errlog.read()[-600:].strip()
    return f"{message}\n  its stderr ends: {tail}" if tail else message
