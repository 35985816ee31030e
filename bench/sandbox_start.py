"""Sandbox cost per command: this tree's deny-by-default sandbox against the one before it.

The baseline is the real code of BASELINE (the last commit with the allow-by-default
view: `--ro-bind / /` plus masks), unpacked in a temporary folder and timed in the
same run, on the same throwaway repo, alternating with this tree's, because these machines
are noisy. Prints medians in ms and the ratio to the baseline. Touches nothing of yours.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASELINE = "b36f591"  # before the deny-by-default view (issue 10)
ROUNDS, N = 5, 10  # ROUNDS alternations of N commands each, per tree
HERE = Path(__file__).resolve().parent.parent

# Runs in a child process with one tree's server/ first on sys.path: times Sandbox.run.
TIMER = r"""
import asyncio, json, sys, time
from pathlib import Path
from minion.sandbox import Sandbox, SandboxPolicy
repo, worktree, home, n = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
# The baseline's policy also named the user's .git (the view bound it); this tree's does not.
older = {"git_common_dir": repo / ".git"} if "git_common_dir" in SandboxPolicy.__dataclass_fields__ else {}
sandbox = Sandbox(SandboxPolicy(repo_path=repo, worktree=worktree, home=home, **older))
loop = asyncio.new_event_loop()
out = {}
for command in ("true", "git status --short"):
    assert loop.run_until_complete(sandbox.run(command)).exit_code == 0  # warm up (probe, view)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        result = loop.run_until_complete(sandbox.run(command))
        samples.append((time.perf_counter() - start) * 1000)
        assert result.exit_code == 0, result.output
    out[command] = samples
print(json.dumps(out))
"""


def git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def time_tree(server: Path, repo: Path, worktree: Path, home: Path, state: Path) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(server), "MINION_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-c", TIMER, str(repo), str(worktree), str(home), str(N)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    if not shutil.which("bwrap"):
        print("bwrap not installed: nothing to measure", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="minion-sandbox-bench-", dir="/var/tmp"))
    try:
        baseline = root / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "archive", BASELINE, "server"], cwd=HERE, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        repo = root / "repo"
        repo.mkdir()
        git("init", "-q", "-b", "main", cwd=repo)
        (repo / "a.txt").write_text("a\n")
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "init", cwd=repo)
        trees = {"baseline": baseline / "server", "this tree": HERE / "server"}
        samples: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for _ in range(ROUNDS):
            for name, server in trees.items():
                state = root / f"state-{name.replace(' ', '-')}"
                worktree = state / "worktrees" / "bench"
                if not worktree.exists():
                    git("worktree", "add", "-q", "--detach", str(worktree), cwd=repo)
                for command, values in time_tree(server, repo, worktree, state / "homes/bench", state).items():
                    samples[name].setdefault(command, []).extend(values)
        print(f"sandbox cost per command (median of {ROUNDS * N}, alternating; baseline {BASELINE})")
        for command in ("true", "git status --short"):
            base = statistics.median(samples["baseline"][command])
            new = statistics.median(samples["this tree"][command])
            print(f"  {command:20} baseline {base:7.2f} ms   this tree {new:7.2f} ms   ratio x{new / base:4.2f}")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
