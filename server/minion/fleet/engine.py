"""``python -m minion.fleet.engine RUN_ID REMOTE``: the engine's worker process
(engine/worker.py, the same as for a local run) on a fleet worker, with a checkpoint
pushed to REMOTE at each node boundary and after each agent turn (fleet/checkpoint.py).
No temporalio here."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

from ..blueprint.nodes import Nodes
from ..runs.model import NodeRecord
from ..runs.store import RunStore
from .checkpoint import write_checkpoint

PR_SET_PDEATHSIG = 1


def install_checkpoints(run_id: str, remote: str) -> None:
    store = RunStore()

    def checkpoint(after: str) -> None:
        if store.cancel_requested(run_id):  # the run is ending: its work goes back as its branch
            return
        started = time.monotonic()
        try:
            commit = write_checkpoint(store.get(run_id), store, remote, after)
        except Exception as e:  # the run goes on; a worker lost now restarts it from the last one
            print(f"minion: the checkpoint after {after} failed: {e}", file=sys.stderr)
            return
        print(f"minion: checkpoint {commit[:10]} after {after} in {time.monotonic() - started:.2f}s",
              file=sys.stderr, flush=True)

    def after_node(node: NodeRecord) -> None:
        checkpoint(f"node {node.seq} ({node.name})")

    def after_turn(node: NodeRecord) -> None:
        checkpoint(f"turn {node.result['turns']} of node {node.seq} ({node.name})")

    Nodes.after_node, Nodes.after_turn = after_node, after_turn


def die_with_worker() -> None:
    """SIGKILL when the worker process that started this one dies: the run has moved on to
    another worker by then, so this one must not go on beside it (Linux only)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request took
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m minion.fleet.engine RUN_ID REMOTE", file=sys.stderr)
        return 2
    from ..engine import worker

    die_with_worker()
    install_checkpoints(*argv)
    return worker.main(argv[:1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
