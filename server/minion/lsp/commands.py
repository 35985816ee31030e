"""``workspace/executeCommand``: the commands of the protocol contract (docs/lsp.md).

Every command returns at once: ``minion.delegate`` returns when the run is snapshotted
and queued, not when it ends. A user's mistake (no TODO there, a bad setting, no
bubblewrap) is shown as a message and returned as an error naming the fix.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..errors import MinionError, UntrustedBlueprint
from ..engine.create import RunRequest
from .delegation import Delegation, task_and_anchor
from .documents import file_path
from .report import report_path
from .server import MinionServer


def user_errors(command):
    """Turn a MinionError into a message for the user and a clean error response."""

    @functools.wraps(command)
    async def wrapper(ls: MinionServer, *args):
        try:
            return await command(ls, *args)
        except MinionError as e:
            ls.message(f"minion: {e}", types.MessageType.Error)
            raise JsonRpcInvalidParams(str(e)) from None

    return wrapper


def register(ls: MinionServer) -> None:
    for name, command in COMMANDS.items():
        ls.command(name)(user_errors(command))


async def delegate(ls: MinionServer, *args) -> dict[str, Any]:
    delegation = Delegation.parse(args[0] if args else None)
    path = file_path(delegation.uri)
    if path is None:
        raise MinionError(f"minion.delegate: {delegation.uri} is not a file; save it in a repository first")
    repo = ls.repo_root_of(path)
    if repo is None:
        raise MinionError(f"{path} is not in a git repository: minion works on git repositories")
    doc = ls.workspace.get_text_document(delegation.uri)
    rel = path.relative_to(repo).as_posix()
    task, anchor = task_and_anchor(delegation, doc, rel, ls.settings_for(repo).todo_patterns)
    # Every open buffer as it is right now: the snapshot must hold what the user sees.
    docs = ls.workspace.text_documents.values()
    buffers = {str(p): d.source for d in docs if (p := file_path(d.uri))}
    request = RunRequest(task=task, repo=repo, anchor=anchor, buffers=buffers, editor_settings=ls.editor_settings)
    try:
        record, status = await ls.start_run(request, anchor_text=doc.source)
    except UntrustedBlueprint as untrusted:
        if not await ls.ask_to_trust(repo, str(untrusted)):
            raise
        record, status = await ls.start_run(request, anchor_text=doc.source)
    return {"runId": record.id, "branch": record.branch, "status": status.value}


async def resume(ls: MinionServer, *args) -> dict[str, Any]:
    if not args:
        raise MinionError("minion.resume takes the run id")
    record, status = await ls.resume(await _full_id(ls, args[0]))
    return {"runId": record.id, "branch": record.branch, "status": status.value}


async def cancel(ls: MinionServer, *args) -> dict[str, Any]:
    run_id = await _full_id(ls, args[0]) if args and args[0] else None
    return await ls.cancel(run_id)


async def runs(ls: MinionServer, *args) -> list[dict[str, Any]]:
    records = await asyncio.to_thread(ls.store.list, limit=50)

    def row(record) -> dict[str, Any]:
        report = report_path(record.id)
        return {
            "id": record.id,
            "status": record.status.value,
            "task": record.task,
            "branch": record.branch,
            "files": record.files,
            "cost_usd": record.usage.cost_usd,
            "checks_ok": record.checks_ok,
            "created_at": record.created_at,
            "report_uri": report.as_uri() if report.exists() else None,
        }

    return await asyncio.to_thread(lambda: [row(r) for r in records])


async def apply(ls: MinionServer, *args) -> dict[str, Any]:
    if not args:
        raise MinionError("minion.apply takes the run id")
    return await ls.apply(await _full_id(ls, args[0]))


async def apply_hunk(ls: MinionServer, *args) -> dict[str, Any]:
    if len(args) != 2 or not isinstance(args[1], int):
        raise MinionError("minion.applyHunk takes the run id and the hunk's index")
    return await ls.apply(await _full_id(ls, args[0]), only=args[1])


async def discard(ls: MinionServer, *args) -> dict[str, Any]:
    if not args:
        raise MinionError("minion.discard takes the run id (and true to delete its branch)")
    return await ls.discard(await _full_id(ls, args[0]), delete_branch=len(args) > 1 and args[1] is True)


async def open_report(ls: MinionServer, *args) -> dict[str, Any]:
    if not args:
        raise MinionError("minion.openReport takes the run id")
    return await ls.open_report(await _full_id(ls, args[0]))


async def _full_id(ls: MinionServer, run_id: Any) -> str:
    """A run id, possibly abbreviated, as stored (raises RunNotFound, a MinionError)."""
    if not isinstance(run_id, str) or not run_id:
        raise MinionError(f"not a run id: {run_id!r}")
    record = await asyncio.to_thread(ls.store.get, run_id)
    return record.id


COMMANDS = {
    "minion.delegate": delegate,
    "minion.cancel": cancel,
    "minion.resume": resume,
    "minion.runs": runs,
    "minion.apply": apply,
    "minion.applyHunk": apply_hunk,
    "minion.discard": discard,
    "minion.openReport": open_report,
}
