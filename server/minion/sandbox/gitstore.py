"""A run-private git repository for the sandbox to see instead of the user's ``.git``.

The user's ``.git`` holds far more than the run's code: every secret ever committed, the
stash, the user's index, submodule configs with tokens in their URLs, the paths of other
worktrees. The sandbox instead gets a gitdir made for the run, holding only:

* HEAD, detached at the run worktree's HEAD (the snapshot S, then the host's result commits);
* the objects of that commit and its first ``history`` first-parent ancestors (the window),
  cut there by a ``shallow`` file, without the blobs of excluded paths;
* a copy of the run worktree's index, a config of SAFE_GIT_CONFIG keys, and the user's
  info/exclude and info/attributes (so `git status` inside agrees with the host's);
* refs/replace/<oid> -> one placeholder blob for each excluded blob the window's trees name:
  without them `git log -p`, `git show` or `git diff HEAD~3` across a change to ``.env``
  would die on a missing object. These are the only refs.

No stash, reflogs, hooks, worktrees/, modules/, packed-refs or alternates. The caller binds
``store.path`` read-only inside the sandbox and points the worktree's ``.git`` file at it;
git reads it fine read-only (`git status` just cannot refresh the index).

Objects are enumerated with plumbing (`ls-tree`, `diff-tree`, all ``-z``) in the user's
repo and written by one `pack-objects`. The part that depends only on the user's HEAD
commit (its window) is cached as a pack per (commit, history, exclude list), hard-linked
into each store; a run adds a small pack for S, and `sync` one per batch of new commits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..git import git
from ..snapshot import GITLINK, _c_quote, _exclude_matcher, _split_z, raw_changes
from .home import git_config_lines

# What git inside the sandbox needs from the repo's config; the rest (remotes, credentials,
# http headers, includes) stays outside.
SAFE_GIT_CONFIG = re.compile(
    r"^(extensions\..*|core\.(repositoryformatversion|filemode|bare|symlinks|ignorecase|"
    r"precomposeunicode|autocrlf|eol|safecrlf|logallrefupdates|quotepath|bigfilethreshold))$"
)

PLACEHOLDER = (b"[minion: this file matches the run's exclude list; its content is not "
               b"available in the sandbox]\n")

# The user's replace refs must not change what is copied: the store has none of them, so
# the objects it gets must be the real ones.
_REAL_OBJECTS = {"GIT_NO_REPLACE_OBJECTS": "1"}

# Safe keys that describe the user's storage, not the store's: the store keeps its refs as
# files, is not a partial clone (a missing blob must not send git fetching) and has a work tree.
_STORAGE_KEYS = {"core.bare", "extensions.partialclone", "extensions.refstorage"}

# Part of every cache key: bump it when what a cached pack holds changes.
_CACHE_FORMAT = "1"
_TREE = "040000"


@dataclass(frozen=True)
class GitStore:
    """A run's private gitdir, and where `sync` reads the run's state from."""

    path: Path  # the private gitdir on the host; the caller binds it into the sandbox
    repo_root: Path  # the user's repository: git reads the objects there
    user_objects: Path  # its object directory
    source_gitdir: Path  # the worktree's own gitdir (in the user's .git/worktrees/): its HEAD
    source_index: Path  # the worktree's index, which the store's index copies
    history: int
    exclude: tuple[str, ...]
    # (inode, mtime, size) of the source index when last copied. git replaces the index file
    # on every write, so a new inode tells a change even within one timestamp tick.
    _copied: dict[str, tuple[int, int, int]] = field(default_factory=dict, compare=False, repr=False)


def build_store(*, repo_root: Path, worktree: Path, dest: Path, cache_dir: Path,
                history: int = 50, exclude: Sequence[str] = ()) -> GitStore:
    """Make the private gitdir ``dest`` (which must not exist) for the run in ``worktree``.

    ``history``: first-parent ancestors of the worktree's HEAD kept (0 = that commit alone).
    ``exclude``: gitignore patterns (the run's exclude setting); no blob found only under
    matching paths is copied. ``cache_dir`` holds the reusable packs.
    """
    if history < 0:
        raise ValueError(f"history must be >= 0, not {history}")
    repo_root = Path(repo_root)
    gitdir, common_dir, objects, index, head = git(
        "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", "--git-path", "objects",
        "--git-path", "index", "--verify", "HEAD^{commit}", cwd=worktree).split("\n")
    store = GitStore(Path(dest), repo_root, Path(objects), Path(gitdir), Path(index), history, tuple(exclude))
    (store.path / "objects" / "pack").mkdir(parents=True)  # FileExistsError: not a fresh store
    (store.path / "refs").mkdir()  # git takes no directory without refs/ and HEAD as a gitdir
    _write(store.path / "HEAD", head + "\n")  # nothing reads the store before it is returned
    _write_config(Path(common_dir), store.path)
    _copy_info(Path(common_dir), store.path)
    excluded = _exclude_matcher(store.exclude)
    [(_, tree, parents)] = _chain(repo_root, [head], 1)
    if history and len(parents) == 1:  # a snapshot on top of the user's HEAD: reuse its window
        cached = _cached_window(store, parents[0], excluded, Path(cache_dir))
        for pack in sorted((cached / "objects" / "pack").iterdir()):
            _link(pack, store.path / "objects" / "pack" / pack.name)
        window = json.loads((cached / "window.json").read_text())
        own = _Part([head], [tree], [(parents[0], head)], [])
        dropped = set(window["dropped"]) | _pack(store, own, excluded, store.path / "objects")
        shallow = window["shallow"]
    else:
        # History 0: S's tree alone, which shares most objects with its parent's tree, but
        # a pack of the parent's tree would also hold the versions S changed. Or an unborn
        # HEAD's snapshot (no parent), or a merge: nothing worth caching.
        part = _window(repo_root, head, history)
        dropped = _pack(store, part, excluded, store.path / "objects")
        shallow = part.shallow
    _write_shallow(store.path, shallow)
    _replace_missing(store.path, dropped)
    _copy_index(store)
    return store


def sync(store: GitStore) -> bool:
    """Follow the run worktree: when its HEAD moved (the host committed the run's work) add
    the new commits' objects and move HEAD; when its index changed, copy it. Cheap when
    nothing changed (one stat, two small reads). True when it changed something.

    git runs in the user's repository and on the worktree's gitdir, never in the worktree:
    its files (.gitattributes, nested repositories) are the agent's."""
    head = _worktree_head(store)
    moved = head != (store.path / "HEAD").read_text().strip()
    if moved:
        _add_commits(store, head)
    copied = _copy_index(store)
    if moved:  # last: HEAD never names a commit whose objects are not all in place
        _write(store.path / "HEAD", head + "\n")
    return moved or copied


# --- what to pack ----------------------------------------------------------------------


@dataclass
class _Part:
    """Objects for one pack: ``commits`` (the commit objects alone) and their root ``trees``;
    for each (have, want) of ``pairs``, the trees and blobs of want's tree that have's tree
    lacks; with ``full``, all trees and blobs of that commit. ``shallow``: commits whose
    parents the store cuts."""

    commits: list[str]
    trees: list[str]
    pairs: list[tuple[str, str]]
    shallow: list[str]
    full: str | None = None


def _chain(repo: Path, revs: Sequence[str], count: int) -> list[tuple[str, str, list[str]]]:
    """(commit, root tree, parents) along the first-parent chain of ``revs``, newest first."""
    out = git("rev-list", "--first-parent", f"--max-count={count}", "--no-commit-header", "--format=%H %T %P",
              *revs, "--", cwd=repo, env=_REAL_OBJECTS)
    return [(commit, tree, parents) for commit, tree, *parents in (line.split() for line in out.splitlines())]


def _window(repo: Path, tip: str, history: int) -> _Part:
    """``tip`` and its first ``history`` first-parent ancestors, the last of them shallow.

    A merge's other parents are kept as shallow commits (commit, tree and blobs; their own
    parents cut). A shallow entry cuts every parent of a commit, so marking the merge itself
    would end the first-parent history there, and leaving the other parent out would make
    `git log`, which follows every parent, die on a bad object. So `git log` lists each such
    parent once, as a root commit; `git log --first-parent` lists exactly the window; `git
    blame` follows a line into the other parent and stops there.
    """
    chain = _chain(repo, [tip], history + 1)
    in_chain = {commit for commit, _, _ in chain}
    sides = list(dict.fromkeys(p for _, _, parents in chain[:-1] for p in parents[1:] if p not in in_chain))
    pairs = [(commit, parents[0]) for commit, _, parents in chain[:-1]]
    pairs += [(commit, p) for commit, _, parents in chain[:-1] for p in parents[1:] if p in sides]
    # The last commit is shallow even when it is a root: a user's shallow clone shows its
    # grafted commits without parents, while their objects still name them.
    return _Part([c for c, _, _ in chain] + sides, [t for _, t, _ in chain] + _root_trees(repo, sides),
                 pairs, [chain[-1][0], *sides], full=tip)


def _root_trees(repo: Path, commits: Sequence[str]) -> list[str]:
    if not commits:
        return []
    return git("rev-parse", *(f"{c}^{{tree}}" for c in commits), cwd=repo, env=_REAL_OBJECTS).split("\n")


def _tree_objects(repo: Path, part: _Part, excluded: Callable[[str], bool]) -> tuple[set[str], set[str]]:
    """(kept, dropped): the trees and blobs of ``part``, and the blobs left out.

    A blob is kept when some path that is not excluded holds it anywhere in the part: its
    bytes are readable there anyway (the empty blob is often both an empty ``.env`` and an
    ``__init__.py``). A blob held only under excluded paths is dropped. Paths come from
    ``-z`` output: a file name with a newline in it (the agent can make one, and the host
    commits it) cannot pass for the line of another object.
    """
    entries: list[tuple[str, str, str]] = []  # (mode, oid, path)
    if part.full:
        listing = git("ls-tree", "-r", "-t", "-z", "--full-tree", part.full, cwd=repo, env=_REAL_OBJECTS)
        for record in _split_z(listing):
            meta, path = record.split("\t", 1)
            mode, _, oid = meta.split(" ")
            entries.append((mode, oid, path))
    if part.pairs:
        # "have want": diff-tree takes want as have's parent, so the old side is want's.
        lines = "".join(f"{have} {want}\n" for have, want in part.pairs)
        raw = git("diff-tree", "-r", "-t", "-z", "--no-renames", "--no-relative", "--no-commit-id", "--stdin",
                  cwd=repo, env=_REAL_OBJECTS, input=lines.encode())
        entries += [(change.old_mode, change.old_oid, change.path) for change in raw_changes(raw)]
    trees: set[str] = set()
    allowed: set[str] = set()
    hidden: set[str] = set()
    verdicts: dict[str, bool] = {}
    for mode, oid, path in entries:
        if mode == _TREE:
            trees.add(oid)
        elif mode not in (GITLINK, "000000"):  # a submodule's commit; a path want lacks
            if path not in verdicts:
                verdicts[path] = excluded(path)
            (hidden if verdicts[path] else allowed).add(oid)
    return trees | allowed, hidden - allowed


def _pack(store: GitStore, part: _Part, excluded: Callable[[str], bool], objects_dir: Path) -> set[str]:
    """Write ``part``'s objects as a pack into ``objects_dir``/pack; return the dropped blobs.

    pack-objects writes its temporary files in the object directory and renames them into
    place, so that directory is ``objects_dir`` (which may be on another file system than the
    user's repository) and the user's objects are read as its alternate. No delta search
    (speed; deltas whose base is packed too are reused) and light compression: only loose
    objects are compressed anew.
    """
    kept, dropped = _tree_objects(store.repo_root, part, excluded)
    objects = dict.fromkeys([*part.commits, *part.trees, *kept])
    env = {**_REAL_OBJECTS, "GIT_OBJECT_DIRECTORY": str(objects_dir),
           "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.fsdecode(_c_quote(os.fsencode(store.user_objects)))}
    git("-c", "pack.compression=1", "pack-objects", "-q", "--window=0", str(objects_dir / "pack" / "pack"),
        cwd=store.repo_root, env=env, input="".join(f"{oid}\n" for oid in objects).encode())
    return dropped


# --- the cache -------------------------------------------------------------------------


def _cached_window(store: GitStore, base: str, excluded: Callable[[str], bool], cache_dir: Path) -> Path:
    """The cache entry for a snapshot on top of commit ``base``: a folder with objects/pack/,
    a pack of the rest of S's window (``base`` and its first ``history - 1`` first-parent
    ancestors), and ``window.json`` (its shallow commits and dropped blobs).

    The key names everything the content depends on, and the content is computed from the
    key alone: an entry holds nothing but objects of its commit's window. A user who amends
    a secret away has a new HEAD commit, so a new key. Entries appear by one rename: a
    concurrent build of the same key loses the rename and uses the winner's.
    """
    patterns = hashlib.sha256(json.dumps([_CACHE_FORMAT, list(store.exclude)]).encode()).hexdigest()[:16]
    entry = cache_dir / f"{base}-h{store.history}-{patterns}"
    if entry.is_dir():
        return entry
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=cache_dir))
    try:
        (tmp / "objects" / "pack").mkdir(parents=True)
        part = _window(store.repo_root, base, store.history - 1)
        dropped = _pack(store, part, excluded, tmp / "objects")
        (tmp / "window.json").write_text(json.dumps({"shallow": part.shallow, "dropped": sorted(dropped)}))
        tmp.rename(entry)
    except OSError:
        if not entry.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename, unless we lost it
    return entry


def _link(src: Path, dst: Path) -> None:
    """Share a cached (read-only) pack file; copy it where a hard link is refused."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- following the run -----------------------------------------------------------------


def _worktree_head(store: GitStore) -> str:
    head = (store.source_gitdir / "HEAD").read_text().strip()
    if head.startswith("ref:"):  # minion's worktrees are detached; someone checked out a branch
        return git("--git-dir", str(store.source_gitdir), "rev-parse", "--verify", "HEAD^{commit}",
                   cwd=store.repo_root)
    return head


def _add_commits(store: GitStore, head: str) -> None:
    """Pack the objects of the commits from the store's HEAD to ``head``.

    Usually ``head`` descends from the store's HEAD along first parents by a few commits
    (the host committed on top of it): only those are added and the window keeps its old
    boundary. Otherwise (HEAD was reset elsewhere, or more than ``history + 1`` commits
    came at once) ``head``'s whole window is packed and becomes the one `git log` walks;
    the objects of the old one stay, the agent saw them already.
    """
    old = (store.path / "HEAD").read_text().strip()
    excluded = _exclude_matcher(store.exclude)
    new = _chain(store.repo_root, [head, f"^{old}"], store.history + 1)
    if new and new[-1][2][:1] == [old]:
        known = {old, *(commit for commit, _, _ in new)}
        others = [p for _, _, parents in new for p in parents[1:] if p not in known]
        sides = sorted(_missing(store.path, others))  # merged-in commits the store lacks: shallow
        pairs = [(parents[0], commit) for commit, _, parents in new]
        pairs += [(commit, p) for commit, _, parents in new for p in parents[1:] if p in sides]
        part = _Part([c for c, _, _ in new] + sides, [t for _, t, _ in new] + _root_trees(store.repo_root, sides),
                     pairs, _read_lines(store.path / "shallow") + sides)
    else:
        part = _window(store.repo_root, head, store.history)
    dropped = _pack(store, part, excluded, store.path / "objects")
    _write_shallow(store.path, part.shallow)
    _replace_missing(store.path, dropped)


def _copy_index(store: GitStore) -> bool:
    """Copy the worktree's index into the store when it changed since the last copy."""
    st = store.source_index.stat()
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    if store._copied.get("index") == stamp:
        return False
    fd, name = tempfile.mkstemp(prefix="index.", dir=store.path)
    os.close(fd)
    tmp = Path(name)
    # copy2 keeps the mtime: git judges racily clean entries against the index's mtime.
    shutil.copy2(store.source_index, tmp)
    if any(store.source_gitdir.glob("sharedindex.*")):
        # A split index (core.splitIndex) names a shared part in the worktree's gitdir, which
        # the sandbox cannot see: write the copy whole.
        git("--git-dir", str(store.source_gitdir), "update-index", "--no-split-index", cwd=store.repo_root,
            env={"GIT_INDEX_FILE": str(tmp)})
    os.replace(tmp, store.path / "index")
    store._copied["index"] = stamp
    return True


# --- the store's files -----------------------------------------------------------------


def _write_config(common_dir: Path, gitdir: Path) -> None:
    """The user's SAFE_GIT_CONFIG keys, minus _STORAGE_KEYS; never remotes, credentials,
    includes, hooks or filters."""
    listing = git("config", "--file", str(common_dir / "config"), "--null", "--list", cwd=common_dir)
    safe = git_config_lines(listing, lambda key: SAFE_GIT_CONFIG.match(key) and key not in _STORAGE_KEYS)
    (gitdir / "config").write_text("[core]\n\tbare = false\n" + safe, encoding="utf-8", errors="surrogateescape")


def _copy_info(common_dir: Path, gitdir: Path) -> None:
    """info/exclude and info/attributes: they change what `git status` and `git diff` report."""
    for name in ("exclude", "attributes"):
        source = common_dir / "info" / name
        if source.is_file():
            (gitdir / "info").mkdir(exist_ok=True)
            shutil.copyfile(source, gitdir / "info" / name)


def _write_shallow(gitdir: Path, commits: Iterable[str]) -> None:
    if commits := sorted(set(commits)):
        _write(gitdir / "shallow", "".join(f"{c}\n" for c in commits))
    else:
        (gitdir / "shallow").unlink(missing_ok=True)


def _replace_missing(gitdir: Path, dropped: Iterable[str]) -> None:
    """Point every dropped blob the store lacks at the placeholder, and unpoint those it now
    has (a later pack may hold the same bytes under an allowed path)."""
    replace_dir = gitdir / "refs" / "replace"
    candidates = set(dropped) | {p.name for p in replace_dir.glob("*")}
    if not candidates:
        return
    missing = _missing(gitdir, candidates)
    for oid in candidates - missing:
        (replace_dir / oid).unlink(missing_ok=True)
    if missing:
        placeholder = git("--git-dir", str(gitdir), "hash-object", "-w", "--stdin", cwd=gitdir,
                          input=PLACEHOLDER)
        replace_dir.mkdir(exist_ok=True)
        for oid in missing:
            (replace_dir / oid).write_text(placeholder + "\n")


def _missing(gitdir: Path, oids: Iterable[str]) -> set[str]:
    """The objects of ``oids`` that ``gitdir`` does not hold (replace refs ignored)."""
    oids = sorted(set(oids))
    if not oids:
        return set()
    out = git("--git-dir", str(gitdir), "cat-file", "--batch-check=%(objectname)", cwd=gitdir,
              env=_REAL_OBJECTS, input="".join(f"{oid}\n" for oid in oids).encode())
    return {line.split(" ")[0] for line in out.splitlines() if line.endswith(" missing")}


def _read_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _write(path: Path, text: str) -> None:
    """Replace a file in one rename: a reader sees the old content or the new, never half."""
    tmp = path.with_name(path.name + ".minion-new")
    tmp.write_text(text)
    os.replace(tmp, path)
