"""MCP servers for a test's runs: the user's mcp.json with entries for support/mcp_server.py."""

import json
import os
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "mcp_server.py"


def configure(mcp_servers: dict) -> None:
    """Write the user's mcp.json; the sandbox shows the test venv and the server script
    (read-only), so a stdio server can run inside it."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "minion"
    (config / "mcp.json").write_text(json.dumps({"mcpServers": mcp_servers}))
    with (config / "config.toml").open("a") as f:
        f.write(f"sandbox_allow = {json.dumps([sys.prefix, str(SERVER.parent)])}\n")


def stdio(*tools: str, mode: str = "stdio", **more) -> dict:
    """A stdio entry for the test server, allowing ``tools``."""
    return {"command": sys.executable, "args": [str(SERVER), mode], "tools": list(tools), **more}
