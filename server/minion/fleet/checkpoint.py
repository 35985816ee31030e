"""Checkpoints of a fleet run: at each node boundary and after each agent turn, the worktree
and the run's nodes as one commit pushed to ``refs/minion/checkpoints/<id>`` on the fleet
remote, so that when the worker dies the next one continues from there (the engine replays
the finished nodes, and an agent node cut off after a turn goes on from that turn).

The checkpoint commit's tree:

    files/         the worktree's files as the commit guard would stage them
    nodes.json     the run's nodes so far (their results: what a replay restores; a running
                   agent node's result is its conversation and spend up to its last turn)
    spent.json     the run's turns and usage so far (its caps count them)
    events.jsonl   the run's event log so far
    head           the worktree's HEAD (the snapshot, or the run's own last commit)

and its parent is that HEAD, so its objects travel with it. The worker writes it from the
engine's own process (fleet/engine.py), while the run waits at the boundary: what it holds
is exactly what the node (or the turn) left. No temporalio here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..agent.usage import Usage
from ..git import git
from ..runs.events import log_path
from ..runs.model import NodeRecord, RunRecord
from ..runs.store import RunStore
from ..snapshot import _stage
from . import transport


def nodes_json(store: RunStore, run_id: str) -> bytes:
    return transport.as_json([{**asdict(n), "usage": n.usage.to_dict()} for n in store.nodes(run_id)])


def store_nodes(store: RunStore, run_id: str, nodes: list[dict[str, Any]]) -> None:
    """Put the nodes of ``nodes_json`` in ``store`` (in place of any it has of the run)."""
    store.delete_nodes_from(run_id, 0)
    for data in nodes:
        node = NodeRecord(**{**data, "run_id": run_id, "usage": Usage.from_dict(data.get("usage") or {})})
        store.start_node(node)
        store.finish_node(node)


def _files_tree(worktree: Path, max_file_mb: int) -> str:
    """The worktree's tree, staged as a commit would be, in a throwaway copy of its index
    (the blobs go to the repository: the checkpoint is pushed from there)."""
    index = Path(git("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=worktree))
    with tempfile.TemporaryDirectory(prefix="minion-checkpoint-") as tmp:
        copy = Path(tmp) / "index"
        if index.exists():
            # copy2 keeps the mtime: with a newer one, git would take a file edited in the
            # second of its checkout, at the same size, for unchanged (racy-git)
            shutil.copy2(index, copy)
        env = {"GIT_INDEX_FILE": str(copy)}
        _stage(worktree, max_file_mb, None, env)
        return git("write-tree", cwd=worktree, env=env)


def write_checkpoint(record: RunRecord, store: RunStore, remote: str, after: str) -> str:
    worktree, mirror = Path(record.worktree or ""), Path(record.repo)
    tree = _files_tree(worktree, record.settings.max_commit_file_mb)
    head = git("rev-parse", "HEAD", cwd=worktree)
    return _push(mirror, store, record.id, remote, head, tree, f"after {after}")


def write_resume_checkpoint(record: RunRecord, store: RunStore, remote: str) -> str:
    """A fleet run its client resumes: a checkpoint of what came home (the files and head
    of its branch, or its snapshot when it left none; its nodes, spend and event log), for
    the worker that takes the run to continue from, as from a lost worker's checkpoint."""
    repo = Path(record.repo)
    head = record.head or record.snapshot or ""
    return _push(repo, store, record.id, remote, head, git("rev-parse", f"{head}^{{tree}}", cwd=repo), "to resume")


def _push(repo: Path, store: RunStore, run_id: str, remote: str, head: str, tree: str, why: str) -> str:
    spent = store.get(run_id)
    path = log_path(run_id)
    files = {"nodes.json": nodes_json(store, run_id), "head": head.encode(),
             "spent.json": transport.as_json({"turns": spent.turns, "usage": spent.usage.to_dict()}),
             "events.jsonl": path.read_bytes() if path.exists() else b""}
    commit = transport.write_files_commit(repo, files, trees={"files": tree}, parents=(head,),
                                          message=f"minion checkpoint {run_id} {why}")
    transport.push_checkpoint(repo, remote, run_id, commit)
    return commit


def restore_checkpoint(record: RunRecord, store: RunStore, commit: str) -> int:
    """Bring a new worker's copy of the run (its worktree at the snapshot, its record just
    created) to the checkpoint: the files, HEAD and branch, the nodes, the spend and the
    event log. Returns how many finished nodes the checkpoint holds."""
    worktree, mirror = Path(record.worktree or ""), Path(record.repo)
    head = transport.read_blob(mirror, f"{commit}:head").decode().strip()
    files = git("rev-parse", f"{commit}:files", cwd=mirror)
    current = git("rev-parse", "HEAD", cwd=worktree)
    git("read-tree", "-m", "-u", current, files, cwd=worktree)
    if head != current:  # the run had committed: its branch and HEAD are there
        git("update-ref", f"refs/heads/{record.branch}", head, cwd=mirror)
        git("update-ref", "--no-deref", "HEAD", head, current, cwd=worktree)
    nodes = json.loads(transport.read_blob(mirror, f"{commit}:nodes.json") or b"[]")
    store_nodes(store, record.id, nodes)
    spent = json.loads(transport.read_blob(mirror, f"{commit}:spent.json") or b"{}")
    store.update(record.id, turns=spent.get("turns", 0), usage=Usage.from_dict(spent.get("usage") or {}))
    path = log_path(record.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(transport.read_blob(mirror, f"{commit}:events.jsonl"))
    return sum(1 for node in nodes if node.get("ended_at") is not None)
