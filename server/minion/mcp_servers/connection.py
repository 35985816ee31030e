"""One MCP server for one run, through the official SDK: started on first use, kept for the
run, restarted once after a crash, stopped (and killed when it does not stop) at the end.

The SDK's streams belong to the task that opens them, so each server lives in a task of its
own that holds the connection open until `stop`; calls come from the agent's task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from .config import McpServer

START_SECONDS = 20.0  # to answer `initialize` and list its tools
STOP_SECONDS = 5.0  # the SDK's own shutdown: close stdin, SIGTERM, SIGKILL
CLIENT_INFO = mcp_types.Implementation(name="minion", version="1")

# Where a stdio server runs: the sandbox's command line for its argv and env (sandbox.py's
# `Sandbox.server_command`), or None to run it on the host as it is.
Launch = Callable[[list[str], dict[str, str]], list[str]]


class ServerFailed(Exception):
    """The server did not start, crashed, or broke the protocol; the message says which."""


@dataclass(frozen=True)
class ToolSpec:
    name: str  # the server's own name for it
    description: str
    input_schema: dict[str, Any]


class Connection:
    def __init__(self, server: McpServer, *, cwd: Path, launch: Launch | None, errlog: TextIO):
        self.server, self.cwd, self.launch, self.errlog = server, cwd, launch, errlog
        self.tools: list[ToolSpec] = []
        self.restarts = 0
        self._client: Client | None = None
        self._holder: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> list[ToolSpec]:
        """Connect, initialize, list the tools; ServerFailed when it does not answer in time."""
        self._stop = asyncio.Event()
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._holder = asyncio.create_task(self._hold(ready), name=f"mcp-{self.server.name}")
        try:
            self._client = await asyncio.wait_for(asyncio.shield(ready), START_SECONDS)
            self.tools = await asyncio.wait_for(self._list_tools(self._client), START_SECONDS)
        except TimeoutError:
            await self.stop()
            raise ServerFailed(f"MCP server {self.server.name!r} did not answer within {START_SECONDS:.0f} s") from None
        except Exception as e:
            await self.stop()
            raise ServerFailed(f"MCP server {self.server.name!r} did not start: {_describe(e)}") from None
        return self.tools

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> mcp_types.CallToolResult:
        """One call. TimeoutError when it takes longer than ``timeout``; ServerFailed when
        the server went away (the caller may `restart` it)."""
        if self._client is None:
            raise ServerFailed(f"MCP server {self.server.name!r} is not running")
        try:
            return await asyncio.wait_for(
                self._client.call_tool(tool, arguments, read_timeout_seconds=timeout), timeout + 1)
        except MCPError as e:
            if e.code == mcp_types.REQUEST_TIMEOUT:
                raise TimeoutError from None
            if e.code == mcp_types.CONNECTION_CLOSED or self._gone():
                raise ServerFailed(f"MCP server {self.server.name!r} went away during the call ({e.message})") from None
            raise
        except Exception as e:
            if self._gone() or not isinstance(e, TimeoutError):
                raise ServerFailed(f"MCP server {self.server.name!r} failed during the call: {_describe(e)}") from None
            raise

    async def restart(self) -> None:
        self.restarts += 1
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        """End the connection; the SDK stops the process (stdin closed, then SIGTERM, SIGKILL)."""
        self._stop.set()
        holder, self._holder, self._client = self._holder, None, None
        if holder is None:
            return
        try:
            await asyncio.wait_for(holder, STOP_SECONDS * 2)
        except (TimeoutError, asyncio.CancelledError):
            holder.cancel()
            with contextlib.suppress(BaseException):
                await holder
        except Exception:  # it failed on the way down: it is down
            pass

    def _gone(self) -> bool:
        return self._holder is None or self._holder.done()

    async def _hold(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with Client(self._target(), client_info=CLIENT_INFO) as client:
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e if isinstance(e, Exception) else ServerFailed("cancelled"))
            elif not isinstance(e, Exception | asyncio.CancelledError):
                raise

    def _target(self) -> Any:
        entry = self.server.entry
        if entry.type == "http":
            assert entry.url
            return streamable_http_client(entry.url, http_client=create_mcp_http_client(headers=entry.headers))
        assert entry.command
        argv, env = [entry.command, *entry.args], dict(entry.env)
        if self.launch is not None:
            argv, env = self.launch(argv, env), {}
        return stdio_client(StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=self.cwd),
                            errlog=self.errlog)

    @staticmethod
    async def _list_tools(client: Client) -> list[ToolSpec]:
        tools: list[ToolSpec] = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += [ToolSpec(t.name, t.description or "", t.input_schema) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                return tools


def _describe(e: BaseException) -> str:
    if isinstance(e, MCPError):
        return e.message
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in e.exceptions)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
