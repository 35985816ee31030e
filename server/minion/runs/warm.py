"""Getting a repository ready for its next run, in the background, at low priority.

`minion warm` leaves a standby (standby.py), fills the worktree pool (worktrees.py) and
parses what the repo map's cache lacks, so that a run starts with neither a second of
imports, nor a full checkout, nor a cold parse on its critical path. The language server
starts it when it opens a workspace, after each run and (map only) after a save;
`minion run`, `resume` and `todo` after their runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..config import Settings, load_settings
from ..context import build_repo_map
from ..state import tags_cache
from ..worktrees import Pool

LOW_PRIORITY = 15  # nice: a run, the editor and the user's own work come first


def warm(repo_root: Path, settings: Settings, *, pool: bool = True, wait: bool = False) -> list[str]:
    """Fill the pool (``pool``) and the repo map's tag cache for HEAD; what was done."""
    done = Pool(repo_root).fill(settings.pool_size, settings.pool_disk_mb, wait=wait) if pool else []
    if settings.repo_map_tokens:
        build_repo_map(repo_root, tree="HEAD", exclude=settings.exclude, budget_tokens=settings.repo_map_tokens,
                       cache=tags_cache())
        done.append("repo map cached")
    return done


def spawn_warm(repo_root: Path, *, pool: bool = True) -> None:
    """Start `minion warm` for ``repo_root`` on its own, in the background (its output and
    errors go nowhere: a failure only means the next run starts cold)."""
    argv = [sys.executable, "-m", "minion.cli", "warm", "--repo", str(repo_root), *([] if pool else ["--map-only"])]
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def warm_for_next_run(repo_root: Path) -> None:
    """After a run: refill what it took, unless the user turned warming off."""
    if repo_root.is_dir() and load_settings(repo_root).warm:
        spawn_warm(repo_root)


def lower_priority() -> None:
    os.nice(LOW_PRIORITY)

