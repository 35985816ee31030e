"""Benchmark: how responsive the language server stays while runs burn CPU.

Against `minion serve` on stdio it times round trips of two cheap requests:

    codeAction   on a TODO line (the hand-off action: a tree-sitter parse of the file)
    codeLens     the lenses of the same file

first with no run, then while RUNS runs start on the repository (10,000 files: each takes
a snapshot in the server and a worktree from the pool), then with the RUNS runs at once,
each busy in a CPU-bound check (a shell busy loop in the sandbox). It prints p50 and p99
of each and the ratios to idle. A ratio near 1 means the runs, in their own
lower-priority worker processes, do not slow the editor down; codeAction's p99 while runs
start should stay under 20 ms.

    .venv/bin/python bench/lsp_latency.py
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REQUESTS = 300
RUNS = 4
FILES = 10_000
START_EVERY_S = 0.3
BURN = "timeout 120 sh -c 'while :; do :; done'"
OPS = "def add(a, b):\n    # TODO(minion): make add() add\n    return a - b\n" + "".join(
    f"\n\ndef helper_{i}(x):\n    return x * {i}\n" for i in range(200))  # a file of ~800 lines
CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities(
        code_action_literal_support=types.ClientCodeActionLiteralOptions(
            code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "refactor"])))),
)


def make_repo(root: Path) -> Path:
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "ops.py").write_text(OPS)
    for i in range(FILES):
        path = root / f"pkg{i // 200}" / f"mod{i}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)
    return root


class Client(LanguageClient):
    """A client that follows the runs' nodes through minion/runStatus."""

    def __init__(self) -> None:
        super().__init__("bench", "1")
        self.nodes: dict[str, str | None] = {}
        self.statuses: dict[str, str] = {}

        @self.feature("minion/runStatus")
        def run_status(params):
            self.nodes[params.id] = params.node
            self.statuses[params.id] = params.status

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create_progress(params):
            return None

        @self.feature(types.PROGRESS)
        def progress(params):
            pass

        @self.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def message_request(params):
            return None


async def timed(requests: int, request) -> list[float]:
    """Round-trip times in milliseconds, one request at a time."""
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        await request()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(client: Client, uri: str) -> dict[str, list[float]]:
    on_todo = types.Position(line=1, character=0)
    action = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(on_todo, on_todo),
        context=types.CodeActionContext(diagnostics=[]))
    lens = types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    return {
        "codeAction": await timed(REQUESTS, lambda: client.text_document_code_action_async(action)),
        "codeLens": await timed(REQUESTS, lambda: client.text_document_code_lens_async(lens)),
    }


async def while_runs_start(client: Client, uri: str) -> tuple[list[float], list[str]]:
    """codeAction round trips, one after another, for as long as RUNS runs are starting."""
    starting = asyncio.ensure_future(start_busy_runs(client, uri))
    on_todo = types.Position(line=1, character=0)
    action = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(on_todo, on_todo),
        context=types.CodeActionContext(diagnostics=[]))
    times = []
    while not starting.done() or len(times) < REQUESTS:
        times += await timed(1, lambda: client.text_document_code_action_async(action))
    return times, await starting


async def start_busy_runs(client: Client, uri: str) -> list[str]:
    # The hand-off action's argument, as docs/lsp.md defines it.
    comment = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
    todo = {"uri": uri, "kind": "todo", "range": comment}
    run_ids = []
    for _ in range(RUNS):
        started = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="minion.delegate", arguments=[todo]))
        run_ids.append(started["runId"])
        await asyncio.sleep(START_EVERY_S)
    deadline = time.monotonic() + 120
    while not all(client.nodes.get(run_id) == "check: burn" for run_id in run_ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"the runs never got busy: {client.statuses}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # let the busy loops take the CPUs
    return run_ids


async def stop_runs(client: Client, run_ids: list[str]) -> None:
    for run_id in run_ids:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="minion.cancel", arguments=[run_id]))
    deadline = time.monotonic() + 60
    while any(client.statuses.get(run_id) in ("queued", "running") for run_id in run_ids):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)


async def bench(tmp: Path) -> dict[str, dict[str, list[float]]]:
    os.environ["MINION_STATE_DIR"] = str(tmp / "state")
    repo = make_repo(tmp / "repo")
    # Ready as the editor leaves it: a worktree per run in the pool, the repo map cached.
    config = tmp / "config" / "minion" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"warm = false\npool_size = {RUNS}\nstandby = 0\n")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    subprocess.run([sys.executable, "-m", "minion.cli", "warm", "--repo", str(repo), "--wait"], check=True,
                   stdout=subprocess.DEVNULL)
    script = tmp / "script.json"
    script.write_text(json.dumps([[{"type": "text", "text": "Nothing to change."}]]))
    settings = {"model": f"scripted:{script}", "checks": {"burn": BURN}, "repo_map_tokens": 0,
                "max_concurrent_runs": RUNS, "repair_rounds": 0}

    client = Client()
    await client.start_io(sys.executable, "-m", "minion.cli", "serve")
    await client.initialize_async(types.InitializeParams(
        capabilities=CAPABILITIES, root_uri=repo.as_uri(), initialization_options={"settings": settings}))
    client.initialized(types.InitializedParams())
    uri = (repo / "calc" / "ops.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=OPS)))

    await measure(client, uri)  # warm-up: imports, grammar, caches
    idle = await measure(client, uri)
    starting, run_ids = await while_runs_start(client, uri)
    loaded = await measure(client, uri)
    await stop_runs(client, run_ids)

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"idle": idle, "loaded": loaded, "starting": {"codeAction": starting}}


def percentile(times: list[float], p: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(p) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="minion-lsp-bench-") as tmp:
        results = asyncio.run(bench(Path(tmp)))
    print(f"{REQUESTS} requests each, {os.cpu_count()} CPUs, loaded = {RUNS} runs in a CPU-bound check")
    headers = ("idle p50", "idle p99", "load p50", "load p99")
    print(f"{'request':<12}" + "".join(f"{h:>10}" for h in headers) + f"{'ratio p50':>11}{'ratio p99':>11}")
    for name in results["idle"]:
        idle, loaded = results["idle"][name], results["loaded"][name]
        i50, i99 = percentile(idle, 50), percentile(idle, 99)
        l50, l99 = percentile(loaded, 50), percentile(loaded, 99)
        print(f"{name:<12}{i50:>9.2f}ms{i99:>8.2f}ms{l50:>8.2f}ms{l99:>8.2f}ms{l50 / i50:>10.2f}x{l99 / i99:>10.2f}x")
    idle, starting = results["idle"]["codeAction"], results["starting"]["codeAction"]
    s50, s99 = percentile(starting, 50), percentile(starting, 99)
    print(f"while {RUNS} runs start on {FILES} files ({len(starting)} codeActions): p50 {s50:.2f}ms, "
          f"p99 {s99:.2f}ms = {s99 / percentile(idle, 99):.2f}x idle ({'under' if s99 < 20 else 'OVER'} 20 ms)")


if __name__ == "__main__":
    main()
