"""Benchmark: how long the checks keep the user waiting on a second run, caches warm, against the first.

For the Go module and the Rust crate of tests/realworld (no dependencies, one test already
failing), it runs the same task twice on the same repo with the same minion state, as a
user would: the real run service, bubblewrap, the scripted model making the fix, the
default blueprint choosing the checks (go vet and go test; cargo test --offline). From
each run's event log it takes the time from the start of the first agent node to the end
of the first check node, and prints the second run's (warm) over the first's (cold).
Each round starts from an empty state dir; the medians of the rounds are printed.

Beside the ratio it prints the first check command's own time and whether the second
run's baseline came from minion's cache. On the first run the baseline (the checks on the
snapshot) runs the same commands at the same time, in a worktree of its own; on the
second it comes from the cache, and that alone makes a warm run faster. Build caches kept
between runs show as a warm command time well below the cold one.

    .venv/bin/python bench/check_caches.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE / "tests"), str(HERE / "tests" / "realworld")]

from minion.runs.events import log_path, read_events  # noqa: E402
from minion.runs.model import Status  # noqa: E402
from projects import MissingTool, Project, go, path_with_cargo, run_minion, rust  # noqa: E402
from support.script import done  # noqa: E402

PROJECTS = {"go": go, "rust": rust}


@dataclass
class Timing:
    to_first_check: float  # seconds from the first agent node's start to the first check's end
    first_command: float  # seconds the first check's command itself took
    baseline_cached: bool


def timing(run_id: str, first_command: float) -> Timing:
    events = read_events(log_path(run_id))
    agent = next(e["ts"] for e in events if e["type"] == "node.start" and e["kind"] == "agent")
    check = next(e["ts"] for e in events if e["type"] == "node.end" and e["kind"] == "check")
    cached = any(e["type"] == "baseline.end" and e["cached"] for e in events)
    return Timing(check - agent, first_command, cached)


async def two_runs(project: Project, folder: Path) -> list[Timing]:
    """A cold run and a warm one of the same fix on the same repo."""
    timings = []
    for attempt in ("cold", "warm"):
        final, _ = await run_minion(project.repo, folder / attempt, [[project.fix], done("Fixed.")])
        if final.status is not Status.OK:
            raise SystemExit(f"{project.family} {attempt} run ended {final.status.value}: {final.summary}")
        timings.append(timing(final.id, final.checks[0]["duration_s"]))
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # What a run chooses must come from the project: no user config, no active venv.
    os.environ.pop("VIRTUAL_ENV", None)
    os.environ["PATH"] = path_with_cargo(os.environ.get("PATH", ""))
    samples: dict[str, list[list[Timing]]] = {name: [] for name in PROJECTS}
    with tempfile.TemporaryDirectory(prefix="minion-cache-bench-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        for round_ in range(args.rounds):
            for name, build in PROJECTS.items():
                folder = Path(tmp) / f"{name}-{round_}"
                os.environ["MINION_STATE_DIR"] = str(folder / "state")  # empty: the first run is cold
                try:
                    project = build(folder / "wordcount")
                except MissingTool as e:
                    print(e, file=sys.stderr)
                    return 1
                (folder / "cold").mkdir()
                (folder / "warm").mkdir()
                samples[name].append(asyncio.run(two_runs(project, folder)))

    print(f"first agent node -> first check result, second run (warm) against first (cold); "
          f"median of {args.rounds} rounds")
    for name, rounds in samples.items():
        cold = statistics.median(r[0].to_first_check for r in rounds)
        warm = statistics.median(r[1].to_first_check for r in rounds)
        cold_command = statistics.median(r[0].first_command for r in rounds)
        warm_command = statistics.median(r[1].first_command for r in rounds)
        cached = sum(r[1].baseline_cached for r in rounds)
        print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s, warm/cold = {warm / cold:.2f}")
        print(f"  first check's command alone: cold {cold_command:.2f} s, warm {warm_command:.2f} s, "
              f"warm/cold = {warm_command / cold_command:.2f}; second run's baseline from the cache in "
              f"{cached} of {len(rounds)} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
