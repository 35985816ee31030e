"""Messages the editor shows speak of the editor's settings, not of the command line's
flags: the engine's messages are written for the terminal (``--model scripted:FILE``)."""

from __future__ import annotations

import re

# flag -> (the settings key, its VS Code name); Neovim's is `settings.<key>`
_FLAGS = {
    "model": ("model", "minion.model"),
    "blueprint": ("blueprint", "minion.blueprint"),
    "python": ("python", "minion.projectPython"),
    "max-cost-usd": ("max_cost_usd", "minion.maxCostUsd"),
    "max-turns": ("max_turns", "minion.maxTurns"),
}
_NAMES = "|".join(re.escape(flag) for flag in sorted(_FLAGS, key=len, reverse=True))
_FLAG = re.compile(rf"\(?--({_NAMES})\b(?:[ =]([^\s()]+?))?(?=[).,;]|\s|$)\)?")


def _setting(match: re.Match[str]) -> str:
    key, vscode = _FLAGS[match.group(1)]
    value = f" = {match.group(2)}" if match.group(2) else ""
    said = f"`{key}`{value} in the editor's settings: {vscode} in VS Code, settings.{key} in Neovim"
    return f"({said})" if match.group(0).startswith("(") and match.group(0).endswith(")") else said


def editor_wording(text: str) -> str:
    """``text`` with every CLI flag it suggests said as the editor setting it stands for."""
    return _FLAG.sub(_setting, text)
