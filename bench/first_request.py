"""Start latency: process start of `minion run` -> the first request at a local Messages API.

On a generated 10,000-file repo with a small dirty state, interleaved in the same run with
the floor today's design pays, `git worktree add --detach` of the same repo, because these
machines are noisy. The first run of a repo is cold (empty state dir), the rest warm.
Prints medians and both ratios to the checkout. Touches nothing of yours.
"""

import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
from support.fake_anthropic import FakeAnthropic, Turn  # noqa: E402

FILES, ROUNDS = 10_000, 3
PYTHON = str(HERE / ".venv" / "bin" / "python")


def make_repo(root: Path) -> Path:
    repo = root / "big"
    for i in range(FILES):
        path = repo / f"pkg{i // 200}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "big"], cwd=repo, check=True)
    (repo / "pkg0" / "mod0.py").write_text("def f0(x):\n    return x  # dirty\n")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


def checkout_seconds(repo: Path, folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(folder)], cwd=repo, check=True)
    took = time.perf_counter() - start
    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=repo, check=True)
    return took


def first_request_seconds(repo: Path, api: FakeAnthropic, state: Path) -> float:
    """Until the request arrives; the run is then killed (what follows is not measured)."""
    seen = len(api.requests)
    env = {**os.environ, "MINION_STATE_DIR": str(state), "ANTHROPIC_API_KEY": "bench",
           "ANTHROPIC_BASE_URL": api.url}
    start = time.monotonic()  # the clock the fake API stamps requests with
    run = subprocess.Popen([PYTHON, "-m", "minion.cli", "run", "--repo", str(repo), "--model",
                            "anthropic:claude-sonnet-4-5", "--json", "say hi"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(api.requests) == seen:
        assert run.poll() is None, "the run ended before its first request"
        time.sleep(0.005)
    took = api.requests[seen].at - start
    run.kill()
    run.wait()
    return took


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="minion-bench-first-"))
    try:
        repo = make_repo(root)
        # A killed run resets its connection; the fake server's report of it is noise here.
        with FakeAnthropic() as api, contextlib.redirect_stderr(io.StringIO()):
            api.script(*[Turn([{"type": "text", "text": "hi"}]) for _ in range(4 * ROUNDS + 4)])
            checkout, warm, cold = [], [], []
            for i in range(ROUNDS):
                checkout.append(checkout_seconds(repo, root / f"wt{i}"))
                cold.append(first_request_seconds(repo, api, root / f"state-cold{i}"))
                warm_state = root / "state-warm"
                if i == 0:
                    first_request_seconds(repo, api, warm_state)  # fills its caches
                warm.append(first_request_seconds(repo, api, warm_state))
        floor = statistics.median(checkout)
        print(f"{FILES} files, dirty; medians of {ROUNDS}, interleaved")
        print(f"git worktree add --detach: {floor:.2f} s")
        for name, samples in (("warm", warm), ("cold", cold)):
            median = statistics.median(samples)
            print(f"minion run, {name}, process start -> first request: {median:.2f} s = {median / floor:.2f}x the checkout")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
