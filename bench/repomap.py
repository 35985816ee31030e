"""Repo-map speed on the largest real code tree available offline: CPython's standard library.

The library's .py files (site-packages and __pycache__ left out) and the C headers are
copied into a temporary git repo and committed. Then the map is built cold (empty tag
cache), warm (a new cache object on the same file, as a new process would see it), and
after one file changed. Prints times, files/second and the warm/cold ratio.

    .venv/bin/python bench/repomap.py [--stdlib DIR] [--budget TOKENS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from minion.context import RepoMapCache, build_repo_map

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost",
}
TASK_FILE = "json/decoder.py"
TASK_IDENTS = ["JSONDecodeError", "raw_decode", "scanstring"]


def copy_tree(stdlib: Path, include: Path, dest: Path) -> int:
    count = 0
    for src in sorted(stdlib.rglob("*.py")):
        rel = src.relative_to(stdlib)
        if rel.parts[0] == "site-packages" or "__pycache__" in rel.parts:
            continue
        target = dest / "Lib" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        count += 1
    for src in sorted(include.rglob("*.h")):
        target = dest / "Include" / src.relative_to(include)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        count += 1
    return count


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)


def timed_build(repo: Path, cache: RepoMapCache, budget: int) -> tuple[float, str]:
    start = time.perf_counter()
    text = build_repo_map(
        repo,
        focus_files=[f"Lib/{TASK_FILE}"],
        focus_idents=TASK_IDENTS,
        budget_tokens=budget,
        cache=cache,
    )
    return time.perf_counter() - start, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--include", type=Path, default=Path(sysconfig.get_paths()["include"]))
    parser.add_argument("--budget", type=int, default=2048)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="minion-bench-") as tmp:
        repo = Path(tmp) / "cpython"
        files = copy_tree(args.stdlib.resolve(), args.include.resolve(), repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "stdlib")
        cache_path = Path(tmp) / "cache" / "tags.sqlite"

        cold_cache = RepoMapCache(cache_path)
        cold, text = timed_build(repo, cold_cache, args.budget)
        warm_cache = RepoMapCache(cache_path)
        warm, warm_text = timed_build(repo, warm_cache, args.budget)
        changed = repo / "Lib" / TASK_FILE
        changed.write_text(changed.read_text() + "\n\ndef bench_added():\n    return scanstring\n")
        one, _ = timed_build(repo, warm_cache, args.budget)

        assert warm_cache.parsed == 1, warm_cache.parsed
        assert warm_text == text, "the map must not depend on the cache"
        assert len(text) / 4 <= args.budget
        print(f"tree: {args.stdlib} (+ {args.include}), {files} files tracked, "
              f"{cold_cache.parsed} parsed, {cache_path.stat().st_size / 1e6:.1f} MB cache")
        print(f"cold: {cold:.2f} s ({cold_cache.parsed / cold:.0f} files/s)")
        print(f"warm: {warm:.2f} s (no file parsed)")
        print(f"one file changed: {one:.2f} s (1 file parsed)")
        print(f"warm/cold: {warm / cold:.3f}")
        print(f"map: {len(text)} chars (~{len(text) // 4} of {args.budget} tokens); it starts:")
        print("\n".join(text.splitlines()[:12]), file=sys.stdout)


if __name__ == "__main__":
    main()
