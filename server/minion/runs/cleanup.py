"""`minion clean`: remove worktrees of runs that ended and the worktree pools; delete branches only when named."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import MinionError
from ..git import git
from ..sandbox.policy import GIT_CACHE, GIT_STORES
from ..snapshot import delete_branch
from ..state import homes_dir, state_dir, worktrees_dir
from ..worktrees import forget_pools_of_gone_repos, pooled_repos, pools_dir, remove_worktree
from .store import RunStore


def clean(store: RunStore, *, delete_branches: list[str]) -> list[str]:
    report: list[str] = []
    runs = {r.id: r for r in store.recent(limit=1_000_000)}
    repos: set[Path] = {Path(r.repo) for r in runs.values() if Path(r.repo).is_dir()}

    for bad in [b for b in delete_branches if not b.startswith("minion/")]:
        raise MinionError(f"refusing to delete '{bad}': minion only deletes its own minion/* branches")

    for worktree in sorted(worktrees_dir().iterdir()):
        run = runs.get(worktree.name)
        if run and run.status.active:
            continue
        if run and Path(run.repo).is_dir():
            remove_worktree(worktree, Path(run.repo))
            # The snapshot holds unsaved buffers and untracked files: not kept past its run.
            git("update-ref", "-d", run.snapshot_ref, cwd=Path(run.repo), check=False)
        else:  # an orphan: its run or its repo is gone
            shutil.rmtree(worktree, ignore_errors=True)
        shutil.rmtree(homes_dir() / worktree.name, ignore_errors=True)
        shutil.rmtree(state_dir() / GIT_STORES / worktree.name, ignore_errors=True)
        report.append(f"removed worktree {worktree}")
    # Cached history packs no run's store links any more (stores hold hard links to them).
    cache = state_dir() / GIT_CACHE
    for entry in sorted(cache.iterdir()) if cache.is_dir() else []:
        packs = list(entry.glob("objects/pack/*.pack"))
        if all(pack.stat().st_nlink == 1 for pack in packs):
            shutil.rmtree(entry, ignore_errors=True)
            report.append(f"removed cached git history {entry.name}")

    for pool in pooled_repos():
        report += pool.empty()
    report += forget_pools_of_gone_repos()

    for repo in sorted(repos):
        report += _forget_missing_worktrees(repo)
        for branch in delete_branches:
            if git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo, check=False):
                delete_branch(repo, branch)
                report.append(f"deleted branch {branch} in {repo}")
    if not report:
        report.append("nothing to clean")
    return report


def _forget_missing_worktrees(repo: Path) -> list[str]:
    """Drop git's records of minion worktrees whose folder is gone (never the user's own)."""
    ours = (worktrees_dir(), *pools_dir().iterdir())
    listing = git("worktree", "list", "--porcelain", cwd=repo)
    report = []
    for line in listing.splitlines():
        path = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        if path and path.parent in ours and not path.exists():
            remove_worktree(path, repo)
            report.append(f"forgot missing worktree {path}")
    return report
