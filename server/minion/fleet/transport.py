"""Git between the client, the fleet remote and the workers: the snapshot goes up as
``refs/minion/snapshots/<id>``, the branch comes back under the run's name, and the run's
record, nodes and event log come back as one commit under ``refs/minion/results/<id>``.
Once a run ended, the worker deletes its snapshot and checkpoint refs on the remote, and
the client its results ref once fetched: the remote keeps only the run's branch.

No hook runs (minion.git), nothing prompts, and the user's repository gets no remote, no
remote-tracking ref and no FETCH_HEAD: only the fetched run branch (and objects).
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..git import GitError, git
from ..snapshot import IDENTITY
from .spec import CHECKPOINTS, RESULTS, SNAPSHOTS

log = logging.getLogger("minion.fleet.transport")

INCOMING = "refs/minion/incoming/"  # a worker's fetched snapshot, until the run's own snapshot ref exists


class TransportError(GitError):
    pass


@contextmanager
def fetch_lock(repo: Path) -> Iterator[None]:
    """One fetch at a time into a repository: concurrent fetches into one object store fail
    now and then ("did not send all necessary objects")."""
    common = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo))
    with open(common / "minion-fleet.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


FETCH_ATTEMPTS = 4


def _fetch(*args: str, cwd: Path, what: str) -> str:
    """A fetch, tried again when it tripped over a worktree being added beside it: `git
    worktree add` writes its admin folder a file at a time (HEAD a placeholder at first),
    and fetch's connectivity check (`rev-list --all`) reads every worktree's HEAD. (A
    worker adds its worktrees under `fetch_lock`; the user's repository gets them from
    local runs too.)"""
    for attempt in range(FETCH_ATTEMPTS):
        try:
            with fetch_lock(cwd):
                return _git("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", *args, cwd=cwd, what=what)
        except TransportError as e:
            if attempt + 1 == FETCH_ATTEMPTS or not _RACED_WORKTREE.search(e.stderr):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("not reached")


_RACED_WORKTREE = re.compile(r"worktrees/[^/\s]+/(HEAD|commondir|gitdir)\b")


def _git(*args: str, cwd: Path, what: str, input: bytes | None = None) -> str:
    try:
        return git(*args, cwd=cwd, input=input)
    except GitError as e:
        raise TransportError(e.command[1:], cwd, e.returncode, e.stdout, f"{what}: {e.stderr.strip()}") from None


# the client


def check_remote(repo: Path, remote: str) -> None:
    """The fleet remote answers (and is a repository): before a run is created."""
    _git("ls-remote", "--quiet", remote, "refs/minion/snapshots/none", cwd=repo,
         what=f"the fleet remote {remote} cannot be reached (fleet_remote / MINION_FLEET_REMOTE)")


def push_snapshot(repo: Path, remote: str, run_id: str, commit: str) -> str:
    ref = SNAPSHOTS + run_id
    _git("push", "--no-verify", "--quiet", remote, f"{commit}:{ref}", cwd=repo,
         what=f"pushing the snapshot to the fleet remote {remote} failed")
    return ref


def fetch_outcome(repo: Path, remote: str, run_id: str, branch: str | None) -> dict[str, bytes]:
    """In one fetch: the run's branch into the user's repository (only that ref), and the
    worker's files of the run (record.json, nodes.json, events.jsonl), read through a
    temporary ref that is deleted again."""
    ref = RESULTS + run_id
    specs = [f"+{ref}:{ref}", *([f"+refs/heads/{branch}:refs/heads/{branch}"] if branch else [])]
    _fetch(remote, *specs, cwd=repo, what=f"fetching the run's {'branch and ' if branch else ''}results from the "
           f"fleet remote {remote} failed")
    try:
        names = git("ls-tree", "--name-only", ref, cwd=repo).splitlines()
        return {name: _blob(repo, f"{ref}:{name}") for name in names}
    finally:
        git("update-ref", "-d", ref, cwd=repo, check=False)


def _blob(repo: Path, spec: str) -> bytes:
    import subprocess

    from ..git import git_command

    argv, env = git_command("cat-file", "blob", spec, cwd=repo)
    return subprocess.run(argv, env=env, capture_output=True, check=True, stdin=subprocess.DEVNULL).stdout


# the worker


def ensure_mirror(mirror: Path) -> Path:
    """The worker's mirror of the fleet remote: a repository with no checkout of its own
    (its HEAD unborn, then detached at the last run's snapshot, for the worktree pool);
    each run is a worktree of it."""
    if not (mirror / ".git").is_dir():
        mirror.mkdir(parents=True, exist_ok=True)
        git("init", "-q", str(mirror), cwd=mirror.parent)
        git("config", "gc.auto", "0", cwd=mirror)  # worktrees come and go; no gc mid-run
    return mirror


def fetch_snapshot(mirror: Path, remote: str, run_id: str, commit: str) -> None:
    """Only the run's snapshot ref (and the history it needs that the mirror lacks)."""
    ref = SNAPSHOTS + run_id
    incoming = INCOMING + run_id
    _fetch(remote, f"+{ref}:{incoming}", cwd=mirror,
           what=f"fetching the snapshot {ref} from the fleet remote {remote} failed")
    got = git("rev-parse", incoming, cwd=mirror)
    git("update-ref", "-d", incoming, cwd=mirror)
    if got != commit:
        raise TransportError(("fetch",), mirror, 1, "", f"the fleet remote has {got} at {ref}, not the run's {commit}")


def push_outcome(mirror: Path, remote: str, run_id: str, branch: str | None, files: dict[str, bytes]) -> str:
    """In one push: the run's branch (when it has one) and one parentless commit holding
    ``files`` at refs/minion/results/<id>."""
    commit = write_files_commit(mirror, files, message=f"minion results {run_id}")
    ref = RESULTS + run_id
    specs = [f"{commit}:{ref}", *([f"refs/heads/{branch}:refs/heads/{branch}"] if branch else [])]
    _git("push", "--no-verify", "--quiet", "--force", "--atomic", remote, *specs, cwd=mirror,
         what=f"pushing the run's {'branch and ' if branch else ''}results to the fleet remote {remote} failed")
    return ref


def forget_on_remote(repo: Path, remote: str, refs: list[str]) -> None:
    """Delete the fleet remote's ``refs`` of a run that ended and came home, as far as it
    lets us (best effort: refs left over cost only space)."""
    try:
        _git("push", "--no-verify", "--quiet", remote, "--delete", *refs, cwd=repo,
             what=f"deleting {', '.join(refs)} on the fleet remote {remote} failed")
    except TransportError as e:
        log.warning("%s", e.stderr)


# checkpoints (a worker's, at each node boundary; the next worker's, when the run moves)


def write_files_commit(repo: Path, files: dict[str, bytes], *, message: str, parents: tuple[str, ...] = (),
                       trees: dict[str, str] | None = None) -> str:
    """A commit of ``files`` (blobs) and ``trees`` (subtrees by id) in ``repo``."""
    entries = [f"040000 tree {oid}\t{name}" for name, oid in sorted((trees or {}).items())]
    for name, data in sorted(files.items()):
        oid = git("hash-object", "-w", "--stdin", cwd=repo, input=data)
        entries.append(f"100644 blob {oid}\t{name}")
    tree = git("mktree", cwd=repo, input=("\n".join(sorted(entries, key=lambda e: e.split("\t")[1])) + "\n").encode())
    extra = [arg for parent in parents for arg in ("-p", parent)]
    return git("commit-tree", "--no-gpg-sign", *extra, "-m", message, tree, cwd=repo, env=IDENTITY)


def push_checkpoint(mirror: Path, remote: str, run_id: str, commit: str) -> None:
    _git("push", "--no-verify", "--quiet", "--force", remote, f"{commit}:{CHECKPOINTS}{run_id}", cwd=mirror,
         what=f"pushing the run's checkpoint to the fleet remote {remote} failed")


def fetch_checkpoint(mirror: Path, remote: str, run_id: str) -> str | None:
    """The run's last checkpoint, fetched into the mirror under refs/minion/checkpoints/<id>;
    None when it has none (it never finished a node)."""
    ref = CHECKPOINTS + run_id
    try:
        _fetch(remote, f"+{ref}:{ref}", cwd=mirror, what=f"fetching the checkpoint {ref} from {remote} failed")
    except TransportError as e:
        if "couldn't find remote ref" in e.stderr:
            return None
        raise
    return git("rev-parse", ref, cwd=mirror)


def read_blob(repo: Path, spec: str) -> bytes:
    return _blob(repo, spec)


def as_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str, indent=1).encode()
