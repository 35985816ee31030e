"""minion's worktrees of the user's repository, and a pool of ready ones per repository.

A run works in a git worktree of its own. A full checkout is the slowest part of starting
one, so each repository keeps a small pool of ready worktrees: clean checkouts at a recent
commit that no run has used. A run takes one, moves it to its own folder and brings it to
the snapshot commit with a two-tree `read-tree -m -u`, which writes only the files that
differ. A taken worktree never goes back: it holds the run's work until `minion clean`.
`minion warm` refills the pool in the background, at low priority.

A pooled worktree must be what a fresh checkout of the snapshot would be. When anything
that decides how files are written may differ (a .gitattributes in the diff, the checkout
config, info/attributes), the pooled one is retired and the run checks out afresh.

Only git's bookkeeping is serialised (registering, moving and forgetting worktrees, under
a per-repository lock); the checkouts of distinct worktrees run side by side.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .git import GitError, git
from .state import state_dir

# What decides the bytes a checkout writes, besides the trees themselves.
_CHECKOUT_CONFIG = (r"^(core\.(autocrlf|eol|symlinks|filemode|ignorecase|precomposeunicode|"
                    r"checkroundtripencoding|attributesfile|sparsecheckout|sparsecheckoutcone)|"
                    r"filter\..*|extensions\..*)$")
_FILE_OVERHEAD_BYTES = 4096  # a file takes at least one block on disk


@contextmanager
def repo_lock(common_dir: Path) -> Iterator[None]:
    """Serialise minion's worktree bookkeeping on one repository: concurrent registrations
    race on the shared gitdir. Held only for git's records, never for a checkout."""
    with open(common_dir / "minion.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def common_dir_of(repo_root: Path) -> Path:
    return Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo_root))


def check_out(repo_root: Path, commit: str, worktree: Path, *, common_dir: Path | None = None) -> bool:
    """A worktree at ``worktree``, detached at ``commit``, as `git worktree add` makes it:
    from the pool when it has a worktree ready, else a fresh checkout. Returns whether it
    came from the pool."""
    common_dir = common_dir or common_dir_of(repo_root)
    worktree.parent.mkdir(parents=True, exist_ok=True)
    if Pool(repo_root, common_dir).take(commit, worktree):
        return True
    _fresh_checkout(repo_root, common_dir, commit, worktree)
    return False


def _fresh_checkout(repo_root: Path, common_dir: Path, commit: str, worktree: Path) -> None:
    """`git worktree add --detach`, registered under the lock and checked out outside it.

    The checkout is the one `worktree add` itself runs (`reset --hard`, no submodules)."""
    with repo_lock(common_dir):
        git("worktree", "add", "--no-checkout", "--detach", str(worktree), commit, cwd=repo_root)
    try:
        git("reset", "--hard", "-q", "--no-recurse-submodules", cwd=worktree)
    except GitError:
        remove_worktree(worktree, repo_root, common_dir=common_dir)
        raise


def remove_worktree(worktree: Path, repo_root: Path, *, common_dir: Path | None = None) -> None:
    """Remove a worktree of minion's and git's record of it.

    The folder is renamed aside and deleted outside the lock; `worktree remove --force`
    then only drops git's record of the missing folder (no `worktree prune`, which would
    also drop the records of the user's own worktrees that are missing for a while).
    """
    common_dir = common_dir or common_dir_of(repo_root)
    trash = None
    if worktree.exists():
        trash = worktree.with_name(f".removing-{worktree.name}-{secrets.token_hex(3)}")
        worktree.rename(trash)
    with repo_lock(common_dir):
        try:
            git("worktree", "remove", "--force", str(worktree), cwd=repo_root)
        except GitError:
            if trash is None and worktree.exists():
                raise  # else it was removed already
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


# --- the pool --------------------------------------------------------------------------


def pools_dir() -> Path:
    path = state_dir() / "pool"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@dataclass(frozen=True)
class _Slot:
    """One pooled worktree: the folder, its marker (``<name>.ready``, written once the
    checkout is complete) and its lock (held by whoever fills, refreshes or takes it)."""

    folder: Path

    @property
    def marker(self) -> Path:
        return self.folder.with_name(self.folder.name + ".ready")

    @property
    def lock_file(self) -> Path:
        return self.folder.with_name(self.folder.name + ".lock")

    def ready(self) -> dict | None:
        try:
            return json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None


class Pool:
    """The ready worktrees of one repository, in ``<state>/pool/<key>/``."""

    def __init__(self, repo_root: Path, common_dir: Path | None = None):
        self.repo_root = repo_root
        self.common_dir = common_dir or common_dir_of(repo_root)
        key = hashlib.sha256(os.fsencode(self.common_dir)).hexdigest()[:16]
        self.dir = pools_dir() / key

    def slots(self) -> list[_Slot]:
        if not self.dir.is_dir():
            return []
        return [_Slot(p) for p in sorted(self.dir.iterdir()) if p.is_dir() and not p.name.startswith(".")]

    def take(self, commit: str, destination: Path) -> bool:
        """Move a ready worktree to ``destination`` and bring it to ``commit``; False when
        none is ready (or the one taken had to be retired)."""
        fingerprint = None
        for slot in self.slots():
            with _try_lock(slot) as locked:
                marker = slot.ready() if locked else None
                if marker is None:
                    continue
                fingerprint = fingerprint or checkout_fingerprint(self.repo_root, self.common_dir)
                slot.marker.unlink()  # claimed: no one else takes it, a filler cleans it up if we die
                if (marker["fingerprint"] != fingerprint
                        or _touches_attributes(self.repo_root, marker["commit"], commit)):
                    self._retire(slot)
                    return False
                with repo_lock(self.common_dir):
                    git("worktree", "move", str(slot.folder), str(destination), cwd=self.repo_root)
                slot.lock_file.unlink(missing_ok=True)
            try:
                _update(destination, marker["commit"], commit)
            except GitError:
                remove_worktree(destination, self.repo_root, common_dir=self.common_dir)
                return False
            return True
        return False

    def fill(self, size: int, disk_mb: int, *, wait: bool = False) -> list[str]:
        """Make the pool hold ``size`` ready worktrees at HEAD (within ``disk_mb``): bring
        ready ones to HEAD, retire stale ones, check out new ones. One filler at a time:
        returns what it did, or nothing when another filler is at work (unless ``wait``)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.dir / "repo").write_text(str(self.repo_root))
        with open(self.dir / ".fill.lock", "a") as fill_lock:
            try:
                fcntl.flock(fill_lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return []
            return self._fill(size, disk_mb)

    def _fill(self, size: int, disk_mb: int) -> list[str]:
        head = git("rev-parse", "--verify", "-q", "HEAD", cwd=self.repo_root, check=False)
        if not head:
            return []  # an unborn branch: nothing to check out yet
        fingerprint = checkout_fingerprint(self.repo_root, self.common_dir)
        for lock_file in self.dir.glob("*.lock"):  # left by a taker that raced another
            if not lock_file.with_suffix("").exists():
                lock_file.unlink(missing_ok=True)
        done, ready = [], 0
        for slot in self.slots():
            with _try_lock(slot) as locked:
                if not locked:
                    continue  # being taken
                marker = slot.ready()
                if (marker is None or ready == size or marker["fingerprint"] != fingerprint
                        or _touches_attributes(self.repo_root, marker["commit"], head)):
                    self._retire(slot)
                    done.append(f"retired {slot.folder.name}")
                    continue
                if marker["commit"] != head:
                    _update(slot.folder, marker["commit"], head)
                    _write_marker(slot, head, fingerprint)
                    done.append(f"moved {slot.folder.name} to {head[:10]}")
                ready += 1
        budget = disk_mb * 1024 * 1024
        footprint = _checkout_bytes(self.repo_root, head)
        while ready < size and (ready + 1) * footprint <= budget:
            slot = _Slot(self.dir / secrets.token_hex(4))
            with _try_lock(slot):
                _fresh_checkout(self.repo_root, self.common_dir, head, slot.folder)
                _write_marker(slot, head, fingerprint)
            done.append(f"checked out {slot.folder.name} at {head[:10]}")
            ready += 1
        return done

    def empty(self) -> list[str]:
        """Remove every pooled worktree that no one is taking."""
        removed = []
        for slot in self.slots():
            with _try_lock(slot) as locked:
                if locked:
                    self._retire(slot)
                    removed.append(f"removed pooled worktree {slot.folder}")
        return removed

    def _retire(self, slot: _Slot) -> None:
        slot.marker.unlink(missing_ok=True)
        remove_worktree(slot.folder, self.repo_root, common_dir=self.common_dir)
        slot.lock_file.unlink(missing_ok=True)


@contextmanager
def _try_lock(slot: _Slot) -> Iterator[bool]:
    with open(slot.lock_file, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True


def _write_marker(slot: _Slot, commit: str, fingerprint: str) -> None:
    temporary = slot.marker.with_suffix(".tmp")
    temporary.write_text(json.dumps({"commit": commit, "fingerprint": fingerprint}))
    temporary.replace(slot.marker)


def _update(worktree: Path, current: str, commit: str) -> None:
    """Bring a clean worktree at ``current`` to ``commit``, writing only what differs."""
    if current == commit:
        return
    git("read-tree", "-m", "-u", current, commit, cwd=worktree)
    git("update-ref", "--no-deref", "HEAD", commit, current, cwd=worktree)


def _touches_attributes(repo_root: Path, old: str, new: str) -> bool:
    """Whether a .gitattributes differs: files the update keeps could then be written
    differently by a fresh checkout (line endings, filters)."""
    if old == new:
        return False
    names = git("diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new, cwd=repo_root)
    return any(name == ".gitattributes" or name.endswith("/.gitattributes") for name in names.split("\0"))


def checkout_fingerprint(repo_root: Path, common_dir: Path) -> str:
    """A hash of what decides how a checkout writes files, besides the trees: the checkout
    config, the repository's info/attributes and the user's global attributes file."""
    config = git("config", "--get-regexp", _CHECKOUT_CONFIG, cwd=repo_root, check=False)
    attributes_file = git("config", "--path", "core.attributesFile", cwd=repo_root, check=False)
    if not attributes_file:
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        attributes_file = str(Path(xdg) / "git" / "attributes")
    digest = hashlib.sha256(config.encode())
    for path in (common_dir / "info" / "attributes", Path(attributes_file)):
        digest.update(b"\0" + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


def _checkout_bytes(repo_root: Path, commit: str) -> int:
    """About what a checkout of ``commit`` takes on disk."""
    total = 0
    for line in git("ls-tree", "-r", "-l", "-z", commit, cwd=repo_root).split("\0"):
        if line:
            size = line.split("\t", 1)[0].split()[3]
            total += (int(size) if size.isdigit() else 0) + _FILE_OVERHEAD_BYTES
    return total


def pooled_repos() -> Iterator[Pool]:
    """The pools of every repository that still exists."""
    for folder in sorted(pools_dir().iterdir()):
        repo = folder / "repo"
        root = Path(repo.read_text()) if repo.is_file() else None
        if root is not None and root.is_dir():
            try:
                yield Pool(root)
            except GitError:
                continue


def forget_pools_of_gone_repos() -> list[str]:
    """Delete the pool folders of repositories that are gone (git has nothing to forget)."""
    removed = []
    for folder in sorted(pools_dir().iterdir()):
        repo = folder / "repo"
        if not (repo.is_file() and Path(repo.read_text()).is_dir()):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"removed the pool of a repository that is gone ({folder.name})")
    return removed

