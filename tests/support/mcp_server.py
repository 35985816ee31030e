"""A real MCP server for the tests, written with the official SDK.

    python mcp_server.py stdio            # over stdin/stdout
    python mcp_server.py http PORT        # streamable HTTP on 127.0.0.1:PORT/mcp
    python mcp_server.py hang-init        # never answers `initialize`

Its tools show what a server can do to a run: read a path, open a connection, crash, hang,
answer 5 MB, change its own tool list, and say an environment variable.
"""

import asyncio
import os
import socket
import sys
import time

from mcp.server.mcpserver import Context, MCPServer

app = MCPServer("minion-test")


@app.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@app.tool()
def read_path(path: str) -> str:
    """Read a file (to show what the server can see)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"


@app.tool()
def connect(host: str, port: int) -> str:
    """Open a TCP connection (to show whether the server has a network)."""
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as e:
        return f"cannot connect: {e.strerror or e}"
    return "connected"


@app.tool()
def environment(variable: str) -> str:
    """One environment variable of the server, or <unset>."""
    return os.environ.get(variable, "<unset>")


@app.tool()
def crash() -> str:
    """Exit at once, mid-call."""
    os._exit(3)


@app.tool()
async def hang() -> str:
    """Never answer."""
    await asyncio.sleep(3600)
    return "late"


@app.tool()
def big() -> str:
    """Five megabytes of text: 48,500 lines of 103 bytes."""
    return "".join(f"line {i:07d} " + "x" * 90 + "\n" for i in range(48_500))


@app.tool()
async def shuffle(ctx: Context) -> str:
    """Change this server's tool list: echo goes, reversed comes, and the client is told."""
    app.remove_tool("echo")
    app.add_tool(lambda text: text[::-1], name="reversed", description="Reverse the text.")
    try:
        await ctx.session.send_tool_list_changed()
    except Exception as e:  # noqa: BLE001 - the change is made either way
        return f"changed (not notified: {e})"
    return "changed"


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "hang-init":
        time.sleep(3600)
    elif mode == "http":
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run("stdio")


if __name__ == "__main__":
    main()
