"""Build scripted-model files: turns of Messages-API content blocks."""

import json
import sys
from pathlib import Path
from typing import Any

Block = dict[str, Any]


def text(message: str) -> Block:
    return {"type": "text", "text": message}


def tool(name: str, **tool_input: Any) -> Block:
    return {"type": "tool_use", "name": name, "input": tool_input}


def replace(path: str, old: str, new: str) -> Block:
    return tool("str_replace_based_edit_tool", command="str_replace", path=path, old_str=old, new_str=new)


def bash(command: str) -> Block:
    return tool("bash", command=command)


def done(summary: str = "Done.") -> list[Block]:
    return [text(summary)]


def write_script(directory: Path, turns: list[list[Block]], name: str = "script.json") -> str:
    """Write the file and return its model spec."""
    path = directory / name
    path.write_text(json.dumps(turns, indent=1))
    return f"scripted:{path}"


# A check command that works in any test repo: the test venv's own pytest.
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
