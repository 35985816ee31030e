"""Sandbox start cost: `true` through Sandbox.run vs. a plain subprocess `true`.

Prints the median of N runs in ms and the ratio. Uses a throwaway repo, worktree and
state dir, so it touches nothing of yours.
"""

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 20


def git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def median_ms(fn, n: int = N) -> float:
    fn()  # warm up (first bwrap probe, page cache)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="minion-sandbox-bench-"))
    os.environ["MINION_STATE_DIR"] = str(root / "state")
    from minion import sandbox as sb
    from minion.sandbox import probe

    try:
        repo = root / "repo"
        repo.mkdir()
        git("init", "-q", "-b", "main", cwd=repo)
        (repo / "a.txt").write_text("a\n")
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "init", cwd=repo)
        worktree = root / "state" / "worktrees" / "bench"
        git("worktree", "add", "-q", "--detach", str(worktree), cwd=repo)
        policy = sb.SandboxPolicy(repo_path=repo, worktree=worktree,
                                  git_common_dir=repo / ".git", home=root / "state/homes/bench")

        plain = median_ms(lambda: subprocess.run(["true"], check=True))
        results = [("plain subprocess `true`", plain)]
        if policy.mode == "bwrap" and shutil.which("bwrap"):
            sandbox = sb.Sandbox(policy)
            loop = asyncio.new_event_loop()

            def in_sandbox() -> None:
                result = loop.run_until_complete(sandbox.run("true"))
                assert result.exit_code == 0, result

            results.append(("Sandbox.run(`true`)", median_ms(in_sandbox)))
            results.append(("Sandbox.run(`git status`)", median_ms(
                lambda: loop.run_until_complete(sandbox.run("git status")))))
            results.append(("bare bwrap `true` (no mounts)", median_ms(
                lambda: subprocess.run(probe._probe_argv(shutil.which("bwrap")), check=True))))
            loop.close()
        else:
            print("bwrap not installed: only the plain number", file=sys.stderr)
        print(f"sandbox start (median of {N}; process cap: {sb.process_cap().kind})")
        for label, ms in results:
            print(f"  {label:32} {ms:7.2f} ms   x{ms / plain:5.1f}")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
