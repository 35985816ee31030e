"""Benchmark: minion's own time per agent turn, and how much of each request is a cached prefix.

A 50-turn scripted session (views, edits, searches, outlines over a small package) runs
through the real agent loop, the real `anthropic` client and a fake Messages API on
127.0.0.1 (tests/support/fake_anthropic.py, streaming SSE). From the wall time of the
session it takes away the time the server spent answering and the time the tools ran; what
is left is minion's own overhead (request building, the SDK and HTTP, SSE parsing, caps,
events), printed as ms/turn, split into the model call and the loop around it.

It then measures, on the bytes the server received, the fraction of request bytes that sat
under a cache breakpoint, and the fraction already cached by the request before (the part
a real API would read from the cache).

    .venv/bin/python bench/agent_overhead.py [--turns 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from minion.agent import prompt  # noqa: E402
from minion.agent.loop import Caps, RunBudget, run_agent  # noqa: E402
from minion.agent.models import AnthropicModel  # noqa: E402
from minion.agent.tools import Toolset  # noqa: E402
from minion.agent.usage import price_per_mtok  # noqa: E402
from minion.runs.events import EventLog  # noqa: E402
from minion.config import Settings  # noqa: E402
from minion.sandbox import Sandbox, SandboxPolicy  # noqa: E402
from support.fake_anthropic import FakeAnthropic, Received, Turn  # noqa: E402

MODEL = "claude-sonnet-5-5"
FILES = 5
FUNCTIONS_PER_FILE = 30


def make_repo(root: Path) -> Path:
    for k in range(FILES):
        numbers = range(k * FUNCTIONS_PER_FILE, (k + 1) * FUNCTIONS_PER_FILE)
        body = "".join(f"def f{n}(x):\n    \"\"\"Scale x by {n}.\"\"\"\n    return x * {n}\n\n\n" for n in numbers)
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"mod{k}.py").write_text(body)
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)
    return root


def session(turns: int) -> list[Turn]:
    """A session that reads and edits its way through the package, then ends."""
    script = []
    for i in range(turns - 1):
        path = f"pkg/mod{(i // FUNCTIONS_PER_FILE) % FILES}.py"
        call = [
            {"name": "str_replace_based_edit_tool", "input": {"command": "view", "path": path}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "str_replace", "path": path, "old_str": f"return x * {i}\n", "new_str": f"return x * {i} + 0\n"}},
            {"name": "search", "input": {"pattern": rf"def f{i}\b"}},
            {"name": "outline", "input": {"path": path}},
        ][i % 4]
        words = f"Step {i}: next I look at f{i} and what calls it, to keep the change small and safe. "
        usage = {"input_tokens": 40, "cache_read_input_tokens": 3000 + 900 * i, "cache_creation_input_tokens": 900,
                 "output_tokens": 120}
        script.append(Turn([{"type": "text", "text": words * 2}, {"type": "tool_use", **call}], usage=usage))
    script.append(Turn([{"type": "text", "text": "Done: every function is touched."}]))
    return script


class TimedToolset(Toolset):
    spent = 0.0

    async def call(self, name, tool_input):
        started = time.perf_counter()
        try:
            return await super().call(name, tool_input)
        finally:
            self.spent += time.perf_counter() - started


class TimedModel:
    """Times each model call (the SDK, HTTP and the server's answer) around the real model."""

    def __init__(self, inner: AnthropicModel):
        self.inner, self.name, self.context_window, self.spent = inner, inner.name, inner.context_window, 0.0

    async def reply(self, request, listener):
        started = time.perf_counter()
        try:
            return await self.inner.reply(request, listener)
        finally:
            self.spent += time.perf_counter() - started


async def drive(api: FakeAnthropic, repo: Path, work: Path, turns: int) -> tuple[float, TimedModel, TimedToolset, int]:
    model = TimedModel(AnthropicModel(MODEL, Settings()))
    sandbox = Sandbox(SandboxPolicy(repo_path=repo, worktree=repo, home=work,
                                    dependency_dirs=[], mode="none"))
    toolset = TimedToolset(repo, repo, sandbox, command_timeout=60)
    events = EventLog(work / "events.jsonl", "bench")
    prices = price_per_mtok(MODEL)

    async def agent(task: str):
        return await run_agent(
            model, toolset, system=prompt.system_blocks(repo, "", ""), messages=[], prompt=task,
            caps=Caps(turns + 1, 10**9, 10**9, 1000.0, time.monotonic() + 600), budget=RunBudget(),
            price=lambda usage: usage.priced(prices), max_tokens=16_000, emit=events.emit,
        )

    # A first turn loads the SDK's lazily imported modules: a one-off cost, measured apart.
    api.script(Turn([{"type": "text", "text": "Ready."}]))
    started = time.perf_counter()
    await agent("Say you are ready.")
    print(f"first turn of a process (SDK imports, connection): {(time.perf_counter() - started) * 1000:.0f} ms")
    api.requests.clear()
    model.spent = 0.0

    api.script(*session(turns))
    started = time.perf_counter()
    outcome = await agent("Touch every function.")
    total = time.perf_counter() - started
    assert outcome.status == "done", outcome.summary
    return total, model, toolset, outcome.turns


def cache_fractions(requests: list[Received]) -> tuple[float, float]:
    """(bytes under a breakpoint, bytes the previous request had already cached) / all bytes."""
    total = cacheable = cached = 0
    previous_end = None  # the previous request's messages up to its breakpoint
    for request in requests:
        spans, messages = request.spans(), request.message_spans()
        prefix = len(spans["tools"]) + len(spans["system"])
        last_user = max(i for i, m in enumerate(request.body["messages"]) if m["role"] == "user")
        total += len(request.raw)
        cacheable += prefix + sum(map(len, messages[: last_user + 1]))
        cached += prefix + (sum(map(len, messages[:previous_end])) if previous_end else 0)
        previous_end = last_user + 1
    return cacheable / total, cached / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic() as api:
        os.environ.update(ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY="sk-ant-bench-dummy-key")
        repo, work = make_repo(Path(tmp) / "repo"), Path(tmp)
        total, model, tools, turns = asyncio.run(drive(api, repo, work, args.turns))
        server = sum(r.took for r in api.requests)
        under_breakpoint, already_cached = cache_fractions(api.requests)
        prefixes = {(r.spans()["tools"], r.spans()["system"]) for r in api.requests}

    own = total - server - tools.spent
    in_model = model.spent - server
    per = 1000 / turns
    print(f"agent overhead over {turns} turns (real anthropic client, fake API on 127.0.0.1, SSE)")
    print(f"  wall time              {total * 1000:8.1f} ms")
    print(f"  server answering       {server * 1000:8.1f} ms")
    print(f"  tools running          {tools.spent * 1000:8.1f} ms")
    print(f"  minion's own           {own * 1000:8.1f} ms   {own * per:6.2f} ms/turn")
    print(f"    model call (SDK, HTTP, SSE)  {in_model * per:6.2f} ms/turn")
    print(f"    loop (caps, history, events) {(own - in_model) * per:6.2f} ms/turn")
    print(f"request bytes: {sum(len(r.raw) for r in api.requests)} in {len(api.requests)} requests")
    print(f"  under a cache breakpoint           {under_breakpoint:6.1%}")
    print(f"  already cached by the request before {already_cached:6.1%}")
    print(f"  tools + system identical in every request: {len(prefixes) == 1}")


if __name__ == "__main__":
    main()
