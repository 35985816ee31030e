"""Start latency: process start of `minion run` -> the first request at a local Messages API.

On a generated 10,000-file repo with a small dirty state, interleaved in the same run with
the floor a design without a pool pays, `git worktree add --detach` of the same repo,
because these machines are noisy. Three cases:

- warm: the repository was made ready (`minion warm`, what the language server does when it
  opens a workspace and after each run: a standby process, the worktree pool, the repo
  map's cache) and the user edited a file since, so the run's tree is new: the repo map
  ranks again, with the parsed files cached;
- cold: an empty state dir: no standby, no pool, a checkout, and every file to parse (the
  map takes what was parsed in its time box, blueprint/repo_map.PARSE_SECONDS);
- 8 at once: eight warm runs started together (eight standbys, a pool of eight); their first requests
  should be spread over no more than twice one warm run (nothing waits behind a lock).

The checkouts and the cold runs take turns going first, and no worktree is removed until
the end: ext4 (without a journal, as here) skips the inodes freed in the last 30 seconds
when it allocates new ones, so a checkout right after 10,000 files were deleted can take
several times as long.

Prints medians and the ratios. Touches nothing of yours.
"""

import contextlib
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
from support.fake_anthropic import FakeAnthropic, Turn  # noqa: E402

FILES, ROUNDS, AT_ONCE = 10_000, 4, 8
PYTHON = str(HERE / ".venv" / "bin" / "python")
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]


def make_repo(root: Path) -> Path:
    repo = root / "big"
    for i in range(FILES):
        path = repo / f"pkg{i // 200}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "big"], cwd=repo, check=True)
    (repo / "notes.txt").write_text("untracked\n")
    edit(repo, 0)
    return repo


def edit(repo: Path, n: int) -> None:
    """A new dirty state: the next run's snapshot has a tree no run had."""
    (repo / "pkg0" / "mod0.py").write_text(f"def f0(x):\n    return x  # edit {n}\n")


def checkout_seconds(repo: Path, folder: Path) -> float:
    """A worktree's checkout, kept until the end (see the docstring above)."""
    start = time.perf_counter()
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(folder)], cwd=repo, check=True)
    return time.perf_counter() - start


class Bench:
    def __init__(self, root: Path, repo: Path, api: FakeAnthropic):
        self.root, self.repo, self.api = root, repo, api
        config = root / "config"
        (config / "minion").mkdir(parents=True)
        # No warming of its own: the bench warms between runs, off the clock.
        (config / "minion" / "config.toml").write_text(f"warm = false\npool_size = {AT_ONCE}\nstandby = {AT_ONCE}\n")
        self.config = config

    def env(self, state: Path) -> dict[str, str]:
        return {**os.environ, "MINION_STATE_DIR": str(state), "XDG_CONFIG_HOME": str(self.config),
                "ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": self.api.url}

    def warm(self, state: Path) -> None:
        subprocess.run([PYTHON, "-m", "minion.cli", "warm", "--repo", str(self.repo), "--wait"],
                       env=self.env(state), check=True, stdout=subprocess.DEVNULL)

    def first_requests(self, state: Path, runs: int = 1) -> list[float]:
        """Seconds from process start to each run's first request; the runs are then cancelled
        (Ctrl-C), and they end before the next measurement starts."""
        seen = len(self.api.requests)
        start = time.monotonic()  # the clock the fake API stamps requests with
        procs = [subprocess.Popen([PYTHON, "-m", "minion", "run", "--repo", str(self.repo), "--model",
                                   "anthropic:claude-sonnet-4-5", "--json", f"say hi {i}"],
                                  env=self.env(state), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for i in range(runs)]
        while len(self.api.requests) < seen + runs:
            for p in procs:
                if p.poll() is not None:
                    sys.exit(f"a run ended before its first request: {p.stderr.read().decode(errors='replace')}")
            time.sleep(0.005)
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.communicate(timeout=60)
        return [r.at - start for r in self.api.requests[seen:seen + runs]]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="minion-bench-first-"))
    try:
        repo = make_repo(root)
        # A killed run resets its connection; the fake server's report of it is noise here.
        with FakeAnthropic() as api, contextlib.redirect_stderr(io.StringIO()):
            api.script(*[Turn([{"type": "text", "text": "hi"}]) for _ in range(ROUNDS * (AT_ONCE + 3) + 2)])
            bench = Bench(root, repo, api)
            checkout, warm, cold, spreads, slowest = [], [], [], [], []
            warm_state = root / "state-warm"
            bench.warm(warm_state)
            for i in range(ROUNDS):
                pair = [lambda: checkout.append(checkout_seconds(repo, root / f"wt{i}")),
                        lambda: cold.extend(bench.first_requests(root / f"state-cold{i}"))]
                for measure in pair if i % 2 == 0 else pair[::-1]:
                    measure()
                edit(repo, i + 1)
                bench.warm(warm_state)
                warm.extend(bench.first_requests(warm_state))
                edit(repo, 100 + i)
                bench.warm(warm_state)
                together = bench.first_requests(warm_state, AT_ONCE)
                spreads.append(max(together) - min(together))
                slowest.append(max(together))
        floor, one = statistics.median(checkout), statistics.median(warm)
        print(f"{FILES} files, dirty; medians of {ROUNDS}, interleaved")
        print(f"git worktree add --detach: {floor:.2f} s")
        for name, samples in (("warm", warm), ("cold", cold)):
            median = statistics.median(samples)
            print(f"minion run, {name}, process start -> first request: {median:.2f} s = {median / floor:.2f}x the checkout")
        spread, last = statistics.median(spreads), statistics.median(slowest)
        print(f"{AT_ONCE} warm runs at once: first requests spread over {spread:.2f} s = {spread / one:.2f}x one warm "
              f"run; the last at {last:.2f} s = {last / one:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
