"""Repo-map speed: CPython's standard library from a work tree, and a generated repo as a git tree.

1. The library's .py files (site-packages and __pycache__ left out) and the C headers are
   copied into a temporary git repo and committed. The map is built from the work tree
   cold (empty tag cache), warm (a new cache object on the same file, as a new process
   would see it), and after one file changed. Prints times, files/second and warm/cold.
2. A generated repo of 10,000 Python files (16 definitions and 74 names used a file; the
   standard library's have 21 and 83) is mapped as a git tree: cold (the median of
   --cold-rounds, each with an empty cache); with its tags cached but not the map (a new
   task: other focus identifiers), split into loading the tags and ranking; after a commit
   changed one file (a new tree, one file parsed); and with the same inputs again (the
   rendered map, from a new cache object). Each is the median of --rounds, printed beside
   `git ls-tree -r` of the same tree, timed in between (these machines are noisy). Then
   cold as a run builds it, in its time box (blueprint/repo_map.PARSE_SECONDS): how long
   the map takes, how many of the files it shows, and when the background parse has
   cached the rest. Last, what one file costs on one core: its tags, and tree-sitter's
   parse alone, which bounds any cold start from below.

    .venv/bin/python bench/repomap.py [--stdlib DIR] [--budget TOKENS] [--files N] [--rounds N]
        [--cold-rounds N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minion.blueprint.repo_map import PARSE_SECONDS
from minion.context import RepoMapCache, build_repo_map, language_for, repomap

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


def generate_tree(dest: Path, files: int) -> None:
    """Modules of 4-32 functions and methods whose bodies call each other's (a few names
    popular), the usual builtins and methods, and a small set of local variable names."""
    rng = random.Random(1)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "ba", "co", "du", "fe", "gi", "ho", "ju"]
    locals_ = ["x", "y", "data", "result", "item", "value", "key", "name", "path", "node", "count", "text"]
    common = ["get", "run", "update", "close", "open", "read", "write", "len", "str", "isinstance", "list",
              "dict", "format", "append", "join", "split"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))

    plans = []
    for _ in range(files):
        functions = [f"{word()}_{word()}" for _ in range(rng.randint(4, 14))]
        classes = {word().capitalize() + word().capitalize(): [
            rng.choice(common[:6]) if rng.random() < 0.3 else f"{word()}_{word()}" for _ in range(rng.randint(2, 9))
        ] for _ in range(rng.randint(0, 2))}
        plans.append((functions, classes))
    public = [name for functions, classes in plans for name in functions + list(classes)]

    def body(indent: str) -> list[str]:
        lines = []
        for _ in range(rng.randint(3, 10)):
            roll = rng.random()
            if roll < 0.5:  # another module's: a tenth of them go to the first 1% (popular)
                callee = rng.choice(public[: len(public) // 100] if rng.random() < 0.1 else public)
            else:
                callee = rng.choice(common) if roll < 0.8 else f"self.{rng.choice(common[:6])}"
            var = rng.choice(locals_)
            lines.append(f"{indent}{var} = {callee}({rng.choice(locals_)}, {var})")
        return [*lines, f"{indent}return {var}"]

    for i, (functions, classes) in enumerate(plans):
        out = []
        for name in functions:
            out += [f"def {name}({rng.choice(locals_)}, {rng.choice(locals_)}=None):", *body("    "), "", ""]
        for name, methods in classes.items():
            out.append(f"class {name}:")
            for method in methods:
                out += [f"    def {method}(self, {rng.choice(locals_)}):", *body("        "), ""]
            out.append("")
        path = dest / f"pkg{i // 100}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out))


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)
    return done.stdout.decode().strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD^{tree}")


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def megabytes(sqlite_file: Path) -> float:
    """With its write-ahead log, which holds what was written last."""
    return sum(p.stat().st_size for p in sqlite_file.parent.glob(sqlite_file.name + "*")) / 1e6


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


def bench_stdlib(args: argparse.Namespace, tmp: Path) -> None:
    repo = tmp / "cpython"
    files = copy_tree(args.stdlib.resolve(), args.include.resolve(), repo)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "stdlib")
    cache_path = tmp / "cache" / "stdlib.sqlite"

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
    print(f"== work tree: {args.stdlib} (+ {args.include}), {files} files tracked, "
          f"{cold_cache.parsed} parsed, {megabytes(cache_path):.1f} MB cache")
    print(f"cold: {cold:.2f} s ({cold_cache.parsed / cold:.0f} files/s)")
    print(f"warm: {warm:.2f} s (no file parsed)")
    print(f"one file changed: {one:.2f} s (1 file parsed)")
    print(f"warm/cold: {warm / cold:.3f}")
    print(f"map: {len(text)} chars (~{len(text) // 4} of {args.budget} tokens); it starts:")
    print("\n".join(text.splitlines()[:12]))


def bench_tree(args: argparse.Namespace, tmp: Path) -> None:
    repo = tmp / "generated"
    generate_tree(repo, args.files)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")  # no gc in the background, now or while timing
    tree = commit_all(repo, "generated")
    git(repo, "gc", "-q")  # as a repo of this size mostly is: packed
    cache_path = tmp / "cache" / "generated.sqlite"
    focus = {"focus_files": ["pkg0/mod7.py"], "budget_tokens": args.budget}

    def build(tree: str, idents: list[str], cache: RepoMapCache | None = None) -> str:
        return build_repo_map(repo, tree=tree, focus_idents=idents, cache=cache or RepoMapCache(cache_path), **focus)

    cold_cache = RepoMapCache(cache_path)
    cold, text = timed(build, tree, ["task0"], cold_cache)
    colds = [cold]
    for round_ in range(1, args.cold_rounds):
        empty = RepoMapCache(tmp / "cache" / f"cold{round_}.sqlite")
        seconds, again = timed(build, tree, ["task0"], empty)
        assert again == text and empty.parsed == cold_cache.parsed
        colds.append(seconds)
    print(f"\n== git tree: {args.files} generated files, {cold_cache.parsed} parsed, "
          f"{megabytes(cache_path):.1f} MB cache")

    def load_tags() -> dict[str, Any]:
        mappable = repomap._mappable_files(repo, tree, repomap.DEFAULT_MAX_FILE_BYTES, repomap._excluder(()))
        return repomap._load_tags(repo, tree, RepoMapCache(cache_path), mappable)[0]

    baseline, warm, load, rank, changed, hit = [], [], [], [], [], []
    for round_ in range(1, args.rounds + 1):
        baseline.append(timed(git, repo, "ls-tree", "-r", tree)[0])
        warm.append(timed(build, tree, [f"task{round_}"])[0])  # a new task: its map is not stored
        seconds, files = timed(load_tags)
        load.append(seconds)
        rank.append(timed(repomap._rank_definitions, files, set(), {f"task{round_}"}, args.budget)[0])
        edited = repo / "pkg0" / "mod7.py"
        edited.write_text(edited.read_text() + f"\n\ndef added_in_round_{round_}():\n    return {round_}\n")
        cache = RepoMapCache(cache_path)
        changed.append(timed(build, commit_all(repo, f"round {round_}"), ["task0"], cache)[0])
        assert cache.parsed == 1, cache.parsed
        hit.append(timed(build, tree, ["task0"])[0])  # the cold run's inputs: its map is stored
    assert build(tree, ["task0"]) == text

    floor = statistics.median(baseline)
    print(f"git ls-tree -r of the tree: {floor * 1000:.1f} ms (the baseline, x1)")
    for label, seconds in [
        ("cold (empty cache)", colds),
        ("warm tags, new task (load + rank + render)", warm),
        ("  load the tags", load),
        ("  rank", rank),
        ("one file changed: a new tree, 1 parsed", changed),
        ("rendered map stored (same inputs)", hit),
    ]:
        median = statistics.median(seconds)
        print(f"{label}: {median * 1000:.1f} ms (x{median / floor:.1f})")

    mapped, shown, cached = [], [], []
    for round_ in range(args.cold_rounds):
        empty = RepoMapCache(tmp / "cache" / f"boxed{round_}.sqlite")
        start = time.perf_counter()
        partial = build_repo_map(repo, tree=tree, focus_idents=["task0"], cache=empty, parse_seconds=PARSE_SECONDS,
                                 **focus)
        mapped.append(time.perf_counter() - start)
        left_out = re.search(r"\(([\d,]+) of ([\d,]+) files not indexed yet", partial)
        shown.append(1 - int(left_out[1].replace(",", "")) / int(left_out[2].replace(",", "")) if left_out else 1.0)
        if empty.indexing:
            empty.indexing.result()
        cached.append(time.perf_counter() - start)
        assert build(tree, ["task0"], RepoMapCache(empty.path)) == text  # all of it cached
    print(f"cold in a run's time box ({PARSE_SECONDS:.1f} s): the map in {statistics.median(mapped) * 1000:.0f} ms, "
          f"showing {statistics.median(shown):.0%} of the files; all cached after {statistics.median(cached):.2f} s")
    parse, extract = per_file(repo, 500)
    cores = min(os.cpu_count() or 1, repomap._MAX_WORKERS)
    print(f"per file, one core: {extract * 1000:.2f} ms to extract its tags, of which tree-sitter's parse "
          f"{parse * 1000:.2f} ms (x {args.files} files / {cores} cores: {args.files * parse / cores:.1f} s "
          f"of any cold start)")
    numpy = timed(subprocess.run, [sys.executable, "-c", "import numpy"])[0]
    bare = timed(subprocess.run, [sys.executable, "-c", "pass"])[0]
    print(f"(a process's first ranking also imports numpy: ~{(numpy - bare) * 1000:.0f} ms)")


def per_file(repo: Path, count: int) -> tuple[float, float]:
    """CPU seconds a file of ``repo`` takes on one core: tree-sitter's parse alone, and
    its whole tag extraction; the best of five passes over ``count`` files, the two taking
    turns (these machines are noisy)."""
    files = [(path.relative_to(repo).as_posix(), path.read_bytes()) for path in sorted(repo.rglob("*.py"))[:count]]
    spec = language_for("a.py")
    steps = [lambda path, data: spec.parse(data), repomap._extract]
    passes: list[list[float]] = [[], []]
    for _ in range(5):
        for step, seconds in zip(steps, passes):
            start = time.process_time()
            for path, data in files:
                step(path, data)
            seconds.append(time.process_time() - start)
    parse, extract = (min(seconds) / len(files) for seconds in passes)
    return parse, extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--include", type=Path, default=Path(sysconfig.get_paths()["include"]))
    parser.add_argument("--budget", type=int, default=2048)
    parser.add_argument("--files", type=int, default=10_000, help="of the generated repo")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold-rounds", type=int, default=3, help="of the generated repo's cold map")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="minion-bench-") as tmp:
        bench_stdlib(args, Path(tmp))
        bench_tree(args, Path(tmp))


if __name__ == "__main__":
    main()
