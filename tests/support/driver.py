"""Execute a run in a child process that can die at an exact node boundary."""

import subprocess
import sys

# Runs a run and SIGKILLs itself right after node `seq` is checkpointed (no hook in minion:
# an ordinary event listener).
DRIVER = """
import asyncio, os, signal, sys
from minion.engine.execute import execute_run
from minion.runs.store import RunStore
kill_after = int(sys.argv[2])
def listener(event):
    if event["type"] == "node.end" and event["seq"] == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
asyncio.run(execute_run(sys.argv[1], RunStore(), listeners=[listener]))
"""


def drive(run_id: str, kill_after: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, run_id, str(kill_after)], capture_output=True, text=True)
