"""Benchmark: take_snapshot (snapshot commit + worktree) against a plain checkout.

For synthetic repos of 1k and 10k files with some staged, unstaged, deleted and untracked
files, ignored build output and a few unsaved buffers, it times

    baseline   git worktree add --detach <tmp> HEAD
    minion     take_snapshot(...): snapshot commit S + `git worktree add --detach <tmp> S`

on the same repo in the same run (interleaved, median of REPS) and prints their ratio.
A ratio of 1.0 means capturing the user's uncommitted work costs nothing beyond the
checkout that every run needs anyway.

    .venv/bin/python bench/snapshot.py
    TMPDIR=/dev/shm .venv/bin/python bench/snapshot.py   # on tmpfs: the fixed cost shows

The repos live in the temp dir: on a slow disk the checkout dominates both timings.
"""

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from minion.git import git
from minion.snapshot import take_snapshot
from minion.worktrees import remove_worktree

SIZES = (1_000, 10_000)
REPS = 3
FILES_PER_DIR = 25
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}


def source(n: int, variant: str = "") -> str:
    """About 1.5 KB of Python-looking text."""
    body = "".join(f"    total += {i} * x  # {variant} line {i}\n" for i in range(40))
    return f"def function_{n}(x):\n    total = 0\n{body}    return total\n"


def build_repo(root: Path, n_files: int) -> tuple[Path, dict[str, int], dict[str, str]]:
    """A committed repo of n_files, then dirtied the way a working session leaves it."""
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    paths = [f"pkg{i // (FILES_PER_DIR * 10)}/mod{i // FILES_PER_DIR}/file_{i}.py"
             for i in range(n_files)]
    for i, rel in enumerate(paths):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source(i))
    (root / ".gitignore").write_text("build/\n*.pyc\n")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "initial", cwd=root, env=IDENTITY)

    dirty = paths[:: 100]  # 1%
    for rel in dirty:
        (root / rel).write_text(source(0, "edited"))
    git("add", *dirty[::2], cwd=root)  # half of them staged
    for rel in paths[1::500]:
        (root / rel).unlink()
    untracked = [f"new/untracked_{i}.py" for i in range(n_files // 200)]
    for rel in untracked:
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_text(source(1, "new"))
    for i in range(n_files // 20):  # ignored build output: must not slow the snapshot
        (root / "build" / f"out_{i}.pyc").parent.mkdir(exist_ok=True)
        (root / "build" / f"out_{i}.pyc").write_bytes(b"\0" * 512)
    buffers = {paths[i]: source(i, "unsaved") for i in (3, 7, 11)}
    counts = {"dirty": len(dirty), "deleted": len(paths[1::500]), "untracked": len(untracked),
              "buffers": len(buffers)}
    return root, counts, buffers


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(repo: Path, buffers: dict[str, str], scratch: Path) -> tuple[float, float]:
    """Median seconds of (baseline, take_snapshot); the median absorbs the cold first round."""
    baseline, minion = [], []
    for rep in range(REPS):
        plain = scratch / f"plain-{rep}"
        baseline.append(timed(lambda: git("worktree", "add", "--detach", str(plain), "HEAD",
                                          cwd=repo)))
        remove_worktree(plain, repo)
        snapshots = []
        minion.append(timed(lambda: snapshots.append(take_snapshot(
            repo, f"bench-{rep}", buffers=buffers, worktrees_dir=scratch))))
        remove_worktree(snapshots[0].worktree, repo)
    return statistics.median(baseline), statistics.median(minion)


def main() -> None:
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"take_snapshot vs `git worktree add --detach`, median of {REPS}")
    print(f"{version}, repos in {tempfile.gettempdir()}\n")
    header = (f"{'files':>6} {'dirty':>5} {'deleted':>7} {'untracked':>9} {'buffers':>7} "
              f"{'worktree add':>13} {'take_snapshot':>14} {'overhead':>9} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="minion-bench-") as tmp:
        for n_files in SIZES:
            repo, counts, buffers = build_repo(Path(tmp) / f"repo-{n_files}", n_files)
            scratch = Path(tmp) / f"worktrees-{n_files}"
            base, snap = measure(repo, buffers, scratch)
            print(f"{n_files:>6} {counts['dirty']:>5} {counts['deleted']:>7} "
                  f"{counts['untracked']:>9} {counts['buffers']:>7} {base * 1000:>10.1f} ms "
                  f"{snap * 1000:>11.1f} ms {(snap - base) * 1000:>6.1f} ms {snap / base:>6.2f}")


if __name__ == "__main__":
    main()
