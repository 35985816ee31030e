"""The MCP tools of one run: which are offered, and what a call does.

Deny by default: a tool is offered only when its server's entry allows it (``"tools"``) or
the agent node names it (``run.agent(..., tools=[...])``); a call to any other name is a tool
error and reaches no server. The offered tools are listed once per server and kept, sorted
by name, so the request prefix the API caches stays byte-identical for the whole run even
when a server reorders or changes its list.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import mcp_types

from ..agent.tools import ToolResult, Tools
from ..redact import redact, redact_text
from ..sandbox import HeadTail
from .config import TOOL_PREFIX, McpConfig, McpServer, tool_name
from .connection import Connection, Launch, ServerFailed, ToolSpec

DESCRIPTION_CHARS = 2000
Emit = Callable[..., Any]


class McpToolbox:
    def __init__(self, config: McpConfig, *, cwd: Path, launch: Launch | None, log_dir: Path, timeout: float,
                 output_bytes: int, emit: Emit):
        """``launch``: how a sandboxed stdio server's command line is made (None: no
        sandbox, as with sandbox = "none"); ``log_dir``: where each server's stderr goes."""
        self.config, self.cwd, self.launch, self.log_dir = config, cwd, launch, log_dir
        self.timeout, self.output_bytes, self.emit = timeout, output_bytes, emit
        self.connections: dict[str, Connection] = {}
        self.failed: dict[str, str] = {}  # server -> why its tools are not there
        self._errlogs: list[TextIO] = []
        self._offered: dict[str, tuple[McpServer, ToolSpec]] = {}  # full name -> its server and tool
        self._definitions: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by the node's own list
        self._secrets = [v for s in config.servers.values() for v in (*s.entry.env.values(), *s.entry.headers.values())
                         if len(v) >= 8]
        for warning in config.warnings:
            emit("log", level="warning", message=warning)

    async def definitions(self, node_tools: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The API tool definitions a node offers, the same for every node with the same
        list; the servers they need start on first need."""
        if node_tools in self._definitions:
            return self._definitions[node_tools]
        wanted = [s for s in self.config.servers.values() if s.entry.tools or _names_server(node_tools, s.name)]
        await asyncio.gather(*(self._start(s) for s in wanted if s.name not in self.connections | self.failed))
        out = []
        for server in wanted:
            connection = self.connections.get(server.name)
            for tool in connection.tools if connection else []:
                full = tool_name(server.name, tool.name)
                if server.allows(tool.name, node_tools) and len(full) <= 128:
                    self._offered.setdefault(full, (server, tool))
                    out.append(_definition(full, tool))
        self._definitions[node_tools] = sorted(out, key=lambda d: d["name"])
        return self._definitions[node_tools]

    def is_mcp(self, name: str) -> bool:
        return name.startswith(TOOL_PREFIX)

    async def call(self, name: str, arguments: dict[str, Any], node_tools: tuple[str, ...] = ()) -> tuple[str, bool]:
        """The call's text for the model and whether it is an error."""
        offered = self._offered.get(name)
        if offered is None or not offered[0].allows(offered[1].name, node_tools):
            return f"the tool {name} is not allowed in this run (MCP tools are allowed per server or node)", True
        server, tool = offered
        started = time.monotonic()
        text, is_error = await self._call(server, tool, arguments)
        text = self._capped(redact_text(text, self._secrets))
        self.emit("mcp.call", server=server.name, tool=tool.name, arguments=redact(arguments, self._secrets),
                  duration_s=round(time.monotonic() - started, 3), result_chars=len(text), is_error=is_error)
        return text, is_error

    async def close(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.connections.values()))
        self.connections.clear()
        for f in self._errlogs:
            f.close()
        self._errlogs.clear()

    async def _start(self, server: McpServer) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        errlog = (self.log_dir / f"mcp-{server.name}.log").open("a", encoding="utf-8")
        self._errlogs.append(errlog)
        launch = None if server.on_host else self.launch
        connection = Connection(server, cwd=self.cwd, launch=launch, errlog=errlog)
        started = time.monotonic()
        try:
            tools = await connection.start()
        except ServerFailed as e:
            self.failed[server.name] = str(e)
            self.emit("log", level="warning", message=f"{e}; its tools are left out of this run")
            return
        self.connections[server.name] = connection
        self.emit("mcp.start", server=server.name, where=server.where(), tools=len(tools),
                  duration_s=round(time.monotonic() - started, 3))

    async def _call(self, server: McpServer, tool: ToolSpec, arguments: dict[str, Any]) -> tuple[str, bool]:
        timeout = server.entry.timeout or self.timeout
        connection = self.connections.get(server.name)
        if connection is None:
            return f"the MCP server {server.name} is not available: {self.failed.get(server.name, 'not started')}", True
        try:
            result = await connection.call(tool.name, arguments, timeout)
        except TimeoutError:
            return f"the MCP tool {tool.name} of {server.name} did not answer within {timeout:.0f} s", True
        except ServerFailed as e:
            return await self._after_crash(connection, e), True
        except Exception as e:  # a protocol error the server sent: the model sees it as the tool's error
            return f"the MCP server {server.name} answered with an error: {e}", True
        return _text_of(result), bool(result.is_error)

    async def _after_crash(self, connection: Connection, error: ServerFailed) -> str:
        """Restarted once, for the calls after this one; the second crash is final."""
        name = connection.server.name
        if connection.restarts >= 1:
            await connection.stop()
            self.connections.pop(name, None)
            self.failed[name] = f"{error}, after a restart"
            self.emit("log", level="warning", message=f"{error} again: its tools are unavailable for the rest of "
                      "the run")
            return f"{error}; it had been restarted once already, so its tools are unavailable for the rest of the run"
        try:
            await connection.restart()
        except ServerFailed as e:
            self.connections.pop(name, None)
            self.failed[name] = str(e)
            return f"{error}; restarting it failed: {e}"
        self.emit("log", level="warning", message=f"{error}; restarted it")
        return f"{error}; the server was restarted, so later calls can work (this one did not)"

    def _capped(self, text: str) -> str:
        sink = HeadTail(self.output_bytes)
        sink.feed(text.encode())
        return sink.text()


def _names_server(patterns: tuple[str, ...], server: str) -> bool:
    return any(p.startswith(f"{TOOL_PREFIX}{server}__") for p in patterns)


def _definition(full: str, tool: ToolSpec) -> dict[str, Any]:
    schema = tool.input_schema if tool.input_schema.get("type") == "object" else {"type": "object"}
    return {"name": full, "description": tool.description[:DESCRIPTION_CHARS], "input_schema": schema}


def _text_of(result: mcp_types.CallToolResult) -> str:
    """What the model reads of a result: its text, a line for what is not text, and the
    structured content when there is nothing else."""
    parts = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            parts.append(resource.text if isinstance(resource, mcp_types.TextResourceContents)
                         else f"[resource {resource.uri}: {resource.mime_type or 'binary'}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{block.type}: {getattr(block, 'mime_type', '')}, not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


class NodeTools:
    """A node's tools: the built-ins, then the MCP tools it may use."""

    def __init__(self, builtin: Tools, toolbox: McpToolbox, node_tools: tuple[str, ...],
                 mcp_definitions: list[dict[str, Any]]):
        self.builtin, self.toolbox, self.node_tools = builtin, toolbox, node_tools
        self._definitions = [*builtin.definitions(), *mcp_definitions]

    def definitions(self) -> list[dict[str, Any]]:
        return self._definitions

    async def call(self, name: str, tool_input: dict[str, Any]) -> ToolResult:
        if not self.toolbox.is_mcp(name):
            return await self.builtin.call(name, tool_input)
        text, is_error = await self.toolbox.call(name, tool_input, self.node_tools)
        return ToolResult(text, is_error=is_error)  # a lookup, not progress: stuck detection counts it as a read
