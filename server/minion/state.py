"""Where minion keeps its run store, logs and worktrees (``MINION_STATE_DIR``).

The folders are private to the user (mode 0700): worktrees hold files an agent made,
possibly setuid binaries, and logs hold the user's code.
"""

import os
from pathlib import Path


def state_dir() -> Path:
    """``$MINION_STATE_DIR``, else ``$XDG_STATE_HOME/minion``, else ``~/.local/state/minion``."""
    explicit = os.environ.get("MINION_STATE_DIR")
    if explicit:
        root = Path(explicit)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        root = Path(xdg) / "minion"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root.resolve()


def worktrees_dir() -> Path:
    path = state_dir() / "worktrees"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def homes_dir() -> Path:
    """Private writable ``HOME`` directories for sandboxed commands, one per run."""
    path = state_dir() / "homes"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = state_dir() / "logs"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def tags_cache() -> Path:
    """The repo map's cache of parsed definitions, shared by every run and repository."""
    return state_dir() / "cache" / "tags.sqlite"
