"""Git plumbing for a run: the snapshot commit and its worktree, the result commit, diffs.

The snapshot S records what the user sees, not just what they committed: HEAD + index +
working files + untracked-not-ignored files + unsaved editor buffers. It is built in a
private copy of the user's index, so the user's HEAD, index, working files, stash and refs
are never touched; only new objects, refs/minion/*, minion's branches and git's worktree
bookkeeping are written.
"""

import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pathspec

from minion import pathguard
from minion.errors import MinionError, NotAGitRepository
from minion.git import GitError, git
from minion.redact import secret_matches
from minion.worktrees import check_out, remove_worktree

# A fixed identity: snapshots and results must work where no git identity is configured.
IDENTITY = {
    "GIT_AUTHOR_NAME": "minion",
    "GIT_AUTHOR_EMAIL": "minion@localhost",
    "GIT_COMMITTER_NAME": "minion",
    "GIT_COMMITTER_EMAIL": "minion@localhost",
}

REGULAR, EXECUTABLE, SYMLINK, GITLINK = "100644", "100755", "120000", "160000"


def snapshot_ref(run_id: str) -> str:
    """The ref that keeps a run's snapshot commit (and so its objects) alive."""
    return f"refs/minion/snapshots/{run_id}"


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    repo_root: Path  # the user's work tree top level, resolved
    git_common_dir: Path  # the user's .git directory (shared by all worktrees)
    base_head: str | None  # the user's HEAD commit at snapshot time; None when unborn
    commit: str  # the snapshot commit S
    ref: str  # snapshot_ref(run_id)
    worktree: Path  # <state>/worktrees/<run_id>, detached at S


@dataclass(frozen=True)
class Hunk:
    """One change region of a text file, as ``git diff -U0`` reports it.

    Line numbers are git's: a pure insertion has ``old_lines == 0`` and ``old_start`` is the
    line it goes after (0 = top of file); a pure deletion has ``new_lines == 0`` likewise.
    ``old_text``/``new_text`` are the whole removed/added lines with their line endings.
    """

    path: str  # repo-relative, "/"-separated; the old path for a deleted file
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    old_text: str
    new_text: str

    @property
    def old_first(self) -> int:
        """0-based first old line; for an insertion, the line it goes before."""
        return self.old_start - 1 if self.old_lines else self.old_start

    @property
    def new_first(self) -> int:
        """0-based first new line; for a deletion, the line it was before."""
        return self.new_start - 1 if self.new_lines else self.new_start


# --- the repository --------------------------------------------------------------------


@dataclass(frozen=True)
class _Repo:
    root: Path
    common_dir: Path
    index_file: Path  # this work tree's index (differs from common_dir/index in a linked worktree)
    head: str | None


def find_repo_root(path: Path) -> Path:
    """The top level of the work tree containing ``path`` (a file or a folder)."""
    return _inspect_repo(Path(path)).root


def _inspect_repo(path: Path) -> _Repo:
    start = path
    while not start.is_dir() and start != start.parent:  # a file, or one not created yet
        start = start.parent
    args = ("rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir",
            "--git-path", "index", "--verify", "-q", "HEAD")
    try:
        lines = git(*args, cwd=start).split("\n")
    except GitError as e:
        # One process for everything: an unborn HEAD fails only the last query (exit 1).
        lines = e.stdout.split("\n")
        if e.returncode != 1 or len(lines) != 3:
            reason = e.stderr.strip().splitlines()[-1] if e.stderr.strip() else str(e)
            raise NotAGitRepository(f"{path} is not inside a git work tree ({reason})") from None
        lines.append("")
    root, common_dir, index_file, head = lines
    return _Repo(Path(root), Path(common_dir), Path(index_file), head or None)


# --- the snapshot ----------------------------------------------------------------------


def take_snapshot(
    repo: Path,
    run_id: str,
    *,
    # Not Mapping[Path | str, str] alone: a Mapping's key type is invariant, so that one
    # would refuse the Mapping[str, str] the language server has.
    buffers: Mapping[str, str] | Mapping[Path, str] | Mapping[Path | str, str] = {},
    worktrees_dir: Path,
    exclude: Sequence[str] = (),
    on_commit: Callable[[str], object] = lambda commit: None,
    checkout: bool = True,
) -> Snapshot:
    """Record the user's work as commit S and check it out in a new worktree.

    ``on_commit(S)`` is called once S exists, before the checkout: what needs only S can
    start beside it. Without ``checkout`` there is no worktree (a run that executes on
    another machine: the fleet's).

    S = HEAD + index + working files + untracked-not-ignored files + ``buffers`` (path ->
    unsaved text; absolute or repo-relative paths; they win over the file on disk). Its
    parent is HEAD, or none when HEAD is unborn. Changed and new files are stored byte
    for byte: core.autocrlf and .gitattributes (eol, text, filter) are not applied when
    hashing them. Unchanged tracked files keep their index entry, so the worktree gets
    them as git's own checkout writes them.

    Deleted files are absent from S. Symlinks are stored as links. A submodule is
    recorded as a gitlink at the submodule's current HEAD; its own uncommitted changes are
    not captured (and the worktree gets it as an empty directory, like any fresh clone).
    An untracked nested repository is left out. Ignored files are left out, except a
    buffer given explicitly.

    Paths matching ``exclude`` (gitignore patterns: ``.env*``, ``*.pem``) hold secrets, and
    their bytes are never copied: an untracked or unsaved one is left out of S, and a
    tracked one keeps its index entry (so the branch keeps it unchanged) but is hidden
    from the worktree (see `_hide_excluded`).
    """
    info = _inspect_repo(Path(repo))
    excluded = _exclude_matcher(exclude)
    blobs = {rel: data for rel, data in _buffer_blobs(info.root, buffers).items() if not excluded(rel)}
    with tempfile.TemporaryDirectory(prefix="minion-snapshot-") as tmp:
        tree = _snapshot_tree(info, blobs, Path(tmp), excluded)
    parents = ("-p", info.head) if info.head else ()
    commit = git("commit-tree", "--no-gpg-sign", *parents, "-m", f"minion snapshot {run_id}",
                 tree, cwd=info.root, env=IDENTITY)
    ref = snapshot_ref(run_id)
    git("update-ref", ref, commit, "", cwd=info.root)  # "": the ref must not exist yet
    on_commit(commit)
    snapshot = Snapshot(run_id, info.root, info.common_dir, info.head, commit, ref,
                        Path(worktrees_dir).resolve() / run_id)
    if checkout:
        _check_out_or_drop(snapshot, exclude)
    return snapshot


def snapshot_at(repo: Path, run_id: str, commit: str, *, base_head: str | None, worktrees_dir: Path,
                exclude: Sequence[str] = (), checkout: bool = True) -> Snapshot:
    """A run's start at an existing commit (a revised run's branch head) rather than the
    user's work: no new commit; the snapshot ref and the worktree as `take_snapshot` makes them."""
    info = _inspect_repo(Path(repo))
    ref = snapshot_ref(run_id)
    git("update-ref", ref, commit, "", cwd=info.root)
    snapshot = Snapshot(run_id, info.root, info.common_dir, base_head, commit, ref,
                        Path(worktrees_dir).resolve() / run_id)
    if checkout:
        _check_out_or_drop(snapshot, exclude)
    return snapshot


def _check_out_or_drop(snapshot: Snapshot, exclude: Sequence[str]) -> None:
    """The snapshot's worktree; if it cannot be made, no snapshot ref either."""
    try:
        add_worktree(snapshot, snapshot.worktree, exclude)
    except GitError:
        git("update-ref", "-d", snapshot.ref, snapshot.commit, cwd=snapshot.repo_root)
        raise


def _buffer_blobs(
    root: Path, buffers: Mapping[str, str] | Mapping[Path, str] | Mapping[Path | str, str]
) -> dict[str, bytes]:
    """Buffers keyed by repo-relative path; refuses any path that is not a file of this repo."""
    blobs = {}
    for path, text in buffers.items():
        # resolve(): the editor may name the file through a symlink.
        full = (root / path).resolve()
        if not full.is_relative_to(root):
            raise MinionError(f"unsaved buffer {path} is outside the repository {root}")
        rel = full.relative_to(root)
        in_nested_repo = any((root / p / ".git").exists() for p in rel.parents if p.parts)
        if full.is_dir() or rel.parts[0] == ".git" or in_nested_repo:
            raise MinionError(f"unsaved buffer {path} is not a file of the repository {root}")
        blobs[rel.as_posix()] = text.encode("utf-8", "surrogateescape")
    return blobs


def _exclude_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a repo-relative path matches the gitignore-style ``patterns``."""
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    return spec.match_file


def _hide_excluded(worktree: Path, exclude: Sequence[str]) -> None:
    """Hide the tracked files matching the exclude list from everything that runs in the
    worktree: mark them skip-worktree in its own index (so `git status` and `git add -A`
    ignore their absence) and delete them. git matches the patterns (gitignore rules)."""
    if not exclude:
        return
    listing = git("ls-files", "-z", "--cached", "--ignored", *(f"--exclude={p}" for p in exclude),
                  "--format=%(objectmode) %(path)", cwd=worktree)
    hidden = [rel for mode, rel in (r.split(" ", 1) for r in _split_z(listing)) if mode != GITLINK]
    if not hidden:
        return
    git("update-index", "--skip-worktree", "-z", "--stdin", cwd=worktree,
        input=b"".join(os.fsencode(rel) + b"\0" for rel in hidden))
    for rel in hidden:
        (worktree / rel).unlink(missing_ok=True)


def _snapshot_tree(info: _Repo, buffers: dict[str, bytes], tmp: Path,
                   excluded: Callable[[str], bool]) -> str:
    """Write the tree of S using a private index seeded from a copy of the user's.

    Excluded paths are not looked at: the private index keeps the user's entry for them.
    """
    index = tmp / "index"
    if info.index_file.exists():
        # copy2 keeps the mtime, so git's racy-entry detection judges the copy like the
        # original; the stat data lets git skip rehashing unchanged files.
        shutil.copy2(info.index_file, index)
    env = {"GIT_INDEX_FILE": str(index)}
    trust_exec, modified, untracked = _scan_work_tree(info.root, env)
    entries = {rel: entry for rel, entry in _changed_entries(info.root, modified, untracked, trust_exec).items()
               if not excluded(rel)}
    for rel, data in buffers.items():
        entries[rel] = _buffer_entry(info.root / rel, data, entries.get(rel), trust_exec)
    _write_index(info.root, entries, env, tmp)
    return git("write-tree", cwd=info.root, env=env)


def _scan_work_tree(root: Path, env: dict[str, str]) -> tuple[bool, str, str]:
    """core.fileMode, the modified index entries and the untracked files.

    Three independent read-only queries, run side by side: the two listings each walk the
    whole work tree.
    """
    with ThreadPoolExecutor(3) as pool:
        file_mode = pool.submit(git, "config", "--type=bool", "--default=true", "core.fileMode",
                                cwd=root)
        modified = pool.submit(git, "ls-files", "-z", "--modified",
                               "--format=%(objectmode) %(objectname) %(path)", cwd=root, env=env)
        untracked = pool.submit(git, "ls-files", "-z", "--others", "--exclude-standard",
                                cwd=root, env=env)
    return file_mode.result() == "true", modified.result(), untracked.result()


@dataclass
class _Entry:
    """One update of the private index: a blob to hash (``source`` file or ``data``), an
    existing object (``oid``), or a removal (mode "0")."""

    mode: str
    oid: str = ""
    source: Path | None = None
    data: bytes | None = None


def _changed_entries(
    root: Path, modified: str, untracked: str, trust_exec: bool
) -> dict[str, _Entry]:
    """Index updates for every working file that differs from the index, or is new."""
    entries: dict[str, _Entry] = {}
    for record in _split_z(modified):
        mode, oid, rel = record.split(" ", 2)
        # Unmerged paths are listed once per stage; their working file resolves them all.
        if rel not in entries:
            entries[rel] = _tracked_entry(root / rel, mode, oid, trust_exec)
    for rel in _split_z(untracked):
        if rel.endswith("/"):
            continue  # an untracked nested repository: not part of this one
        try:
            st = (root / rel).lstat()
        except FileNotFoundError:
            continue  # deleted since git listed it (an editor's save-by-rename)
        entries[rel] = _file_entry(root / rel, st, None, trust_exec)
    return entries


def _tracked_entry(path: Path, index_mode: str, oid: str, trust_exec: bool) -> _Entry:
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return _Entry("0", oid)
    if stat.S_ISDIR(st.st_mode):
        if index_mode == GITLINK:
            return _Entry(GITLINK, git("rev-parse", "HEAD", cwd=path))
        return _Entry("0", oid)  # a file became a folder; its files come as untracked
    return _file_entry(path, st, index_mode, trust_exec)


def _file_entry(path: Path, st: os.stat_result, index_mode: str | None, trust_exec: bool) -> _Entry:
    if stat.S_ISLNK(st.st_mode):
        # A link's blob is its target; hash-object would read through the link.
        return _Entry(SYMLINK, data=os.readlink(os.fsencode(path)))
    return _Entry(_regular_mode(st, index_mode, trust_exec), source=path)


def _regular_mode(st: os.stat_result, index_mode: str | None, trust_exec: bool) -> str:
    """The mode `git add` records; with core.fileMode=false the index keeps the exec bit."""
    if not trust_exec:
        return index_mode if index_mode in (REGULAR, EXECUTABLE) else REGULAR
    return EXECUTABLE if st.st_mode & stat.S_IXUSR else REGULAR


def _buffer_entry(path: Path, data: bytes, known: _Entry | None, trust_exec: bool) -> _Entry:
    """The buffer's text, with the mode of the file it will be saved to."""
    if known and known.mode in (REGULAR, EXECUTABLE):
        mode = known.mode  # the modified file's mode, already worked out
    elif path.is_file():
        mode = _regular_mode(path.stat(), None, trust_exec)
    else:
        mode = REGULAR
    return _Entry(mode, data=data)


def _write_index(root: Path, entries: dict[str, _Entry], env: dict[str, str], tmp: Path) -> None:
    """Hash all new blobs in one `hash-object`, then apply every update in one `update-index`.

    --no-filters stores exact bytes: core.autocrlf and .gitattributes (eol, text, filter)
    must not change what the agent sees.
    """
    to_hash = [e for e in entries.values() if e.source or e.data is not None]
    if to_hash:
        paths = []
        for number, entry in enumerate(to_hash):
            source = entry.source
            if entry.data is not None:
                source = entry.source = tmp / f"blob-{number}"
                source.write_bytes(entry.data)
            assert source is not None  # to_hash: each entry has a source or data
            paths.append(_c_quote(os.fsencode(source)) + b"\n")
        oids = git("hash-object", "-w", "--no-filters", "--stdin-paths", cwd=root,
                   input=b"".join(paths)).split("\n")
        for entry, oid in zip(to_hash, oids, strict=True):
            entry.oid = oid
    if entries:
        records = "".join(f"{e.mode} {e.oid}\t{rel}\0" for rel, e in entries.items())
        git("update-index", "-z", "--index-info", cwd=root, env=env,
            input=records.encode("utf-8", "surrogateescape"))


def _c_quote(path: bytes) -> bytes:
    """Quote a path for git's line-based stdin, which unquotes C-style "..." lines."""
    out = bytearray(b'"')
    for byte in path:
        if byte in b'"\\':
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def _split_z(output: str) -> list[str]:
    return [item for item in output.split("\0") if item]


@dataclass(frozen=True)
class RawChange:
    """One entry of ``git diff --raw -z --no-renames`` (or ``diff-tree``): one path each."""

    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str
    status: str
    path: str


def raw_changes(output: str) -> list[RawChange]:
    fields = _split_z(output)
    return [_raw_change(meta, path) for meta, path in zip(fields[::2], fields[1::2], strict=True)]


def _raw_change(meta: str, path: str) -> RawChange:
    old_mode, new_mode, old_oid, new_oid, status = meta.removeprefix(":").split(" ")
    return RawChange(old_mode, new_mode, old_oid, new_oid, status, path)


def add_worktree(snapshot: Snapshot, worktree: Path, exclude: Sequence[str] = ()) -> None:
    """A worktree of the snapshot, as the run's was before the agent touched it (from the
    pool when one is ready)."""
    check_out(snapshot.repo_root, snapshot.commit, worktree, common_dir=snapshot.git_common_dir)
    _hide_excluded(worktree, exclude)


def discard_snapshot(snapshot: Snapshot) -> None:
    """Undo `take_snapshot`: remove the worktree and the snapshot ref (for a run that could
    not be recorded)."""
    remove_worktree(snapshot.worktree, snapshot.repo_root, common_dir=snapshot.git_common_dir)
    git("update-ref", "-d", snapshot.ref, snapshot.commit, cwd=snapshot.repo_root)


# --- the result ------------------------------------------------------------------------


DEFAULT_MAX_FILE_MB = 50  # GitHub refuses files over 100 MB; a review wants far less


@dataclass(frozen=True)
class FlaggedFile:
    """A file of the run's change a reviewer must know about, and why: one the commit guard
    left out of the branch, or one committed that runs code on the reviewer's machine."""

    path: str
    why: str

    def describe(self) -> str:
        return f"{readable(self.path)}: {self.why}"


def readable(path: str) -> str:
    """A path as a reviewer can read it: control and non-ASCII characters escaped."""
    return ascii(path)[1:-1]


# Names a reviewer cannot read as they are: control characters, and format characters
# such as U+202E (right-to-left override), which make `evil.exe\u202etxt.py` look harmless.
_UNREADABLE_NAME = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def commit_result(snapshot: Snapshot, *, branch: str, message: str, max_file_mb: int = DEFAULT_MAX_FILE_MB,
                  refused: list[FlaggedFile] | None = None,
                  forbid: Callable[[str], str | None] | None = None) -> str | None:
    """Commit the run's worktree on top of its HEAD and point refs/heads/<branch> at it.

    Runs on the host with the worktree's own index (the worktree is minion's). Staging
    honours .gitignore. Plumbing (write-tree, commit-tree) runs no hook, signs nothing and
    keeps the message verbatim. Returns the new commit, or None when nothing changed since
    the last commit (the branch then points at that commit: S on the first call).

    The commit guard leaves out what must not reach the user's repository (nested
    repositories, `_before_staging`, `_guard_staged`, and changed paths for which ``forbid``
    gives a reason); each is appended to ``refused`` when a list is given.
    """
    worktree = snapshot.worktree
    found = _stage(worktree, max_file_mb, forbid)
    if refused is not None:
        refused.extend(found)
    tree = git("write-tree", cwd=worktree)
    head, head_tree = git("rev-parse", "HEAD", "HEAD^{tree}", cwd=worktree).split("\n")
    new = None
    if tree != head_tree:
        new = git("commit-tree", "--no-gpg-sign", "-p", head, "-m", message, tree,
                  cwd=worktree, env=IDENTITY)
    # The branch is minion's only while it is where minion left it (the worktree's HEAD):
    # a user who committed on it, or made it elsewhere, keeps their work.
    ref = f"refs/heads/{branch}"
    current = git("rev-parse", "--verify", "--quiet", ref, cwd=worktree, check=False)
    if current and current != head:
        raise BranchMoved(
            f"the branch {branch} moved outside minion (it is at {current[:10]}, minion left it at "
            f"{head[:10]}); minion will not overwrite it. The run's work is in {worktree}"
        )
    branch_update = f"update {ref} {new or head} {current}" if current else f"create {ref} {new or head}"
    # One transaction, checked against the old values: HEAD and the branch move together.
    updates = f"update HEAD {new or head} {head}\n{branch_update}\n"
    git("update-ref", "--no-deref", "--stdin", cwd=worktree, input=updates.encode())
    return new


def guard_preview(snapshot: Snapshot, *, max_file_mb: int = DEFAULT_MAX_FILE_MB,
                  forbid: Callable[[str], str | None] | None = None) -> list[FlaggedFile]:
    """What the commit guard would leave out if the run committed now, so the agent can still
    fix it. Stages into a throwaway index and object folder: the worktree's index and the
    user's .git stay as they are (no blob of a version the agent later drops lands there)."""
    with _scratch_git(snapshot.worktree) as env:
        return _stage(snapshot.worktree, max_file_mb, forbid, env(""))


@contextmanager
def put_back_changes(worktree: Path, max_file_mb: int = DEFAULT_MAX_FILE_MB) -> Iterator[list[str]]:
    """Record the worktree's files; on leaving, put back every file changed, added or
    deleted in between, and fill the list with their paths. For checks, which must report,
    not edit: a formatter run by a check leaves the agent's code as it was. (What the
    commit guard leaves out is not recorded, so not put back either.)"""
    changed: list[str] = []
    with _scratch_git(worktree) as env:
        before = env("before")
        _stage(worktree, max_file_mb, None, before)
        before_tree = git("write-tree", cwd=worktree, env=before)
        yield changed
        after = env("after")
        _stage(worktree, max_file_mb, None, after)
        after_tree = git("write-tree", cwd=worktree, env=after)
        diff = git("diff-tree", "-r", "-z", "--no-renames", "--raw", "--no-abbrev", before_tree, after_tree,
                   cwd=worktree, env=after)
        changes = raw_changes(diff)
        added = [c.path for c in changes if c.status == "A"]
        for rel in added:
            (worktree / rel).unlink(missing_ok=True)
        restore = [c.path for c in changes if c.status != "A"]
        if restore:
            git("checkout-index", "-f", "-z", "--stdin", cwd=worktree, env=before,
                input=b"".join(os.fsencode(rel) + b"\0" for rel in restore))
        changed.extend(c.path for c in changes)


@contextmanager
def _scratch_git(worktree: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    """``env(name)``: git variables for a throwaway copy of the worktree's index named
    ``name``, all writing objects into one throwaway folder (reading the repo's too)."""
    index, objects = git("rev-parse", "--path-format=absolute", "--git-path", "index", "--git-path", "objects",
                         cwd=worktree).split("\n")
    with tempfile.TemporaryDirectory(prefix="minion-scratch-") as tmp:
        scratch = Path(tmp)
        (scratch / "objects").mkdir()

        def env(name: str) -> dict[str, str]:
            copy = scratch / f"index{name}"
            if Path(index).exists() and not copy.exists():
                shutil.copy2(index, copy)  # its mtime too: see _snapshot_tree
            return {"GIT_INDEX_FILE": str(copy), "GIT_OBJECT_DIRECTORY": str(scratch / "objects"),
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}

        yield env


def _stage(worktree: Path, max_file_mb: int, forbid: Callable[[str], str | None] | None,
           env: dict[str, str] | None = None) -> list[FlaggedFile]:
    """Stage the worktree's changes (into ``env``'s index, else the worktree's) except what the
    commit guard refuses; return the refusals."""
    # Gitlinks stay as they are. Staging one runs `git status` inside the nested repository,
    # which the agent controls: its hooks, fsmonitor and filters would run on the host.
    listing = git("ls-files", "-z", "--format=%(objectmode) %(path)", cwd=worktree, env=env)
    gitlinks = [r.split(" ", 1)[1] for r in _split_z(listing) if r.startswith(GITLINK + " ")]
    # A new nested repository would be staged as a gitlink (or fail the commit when it has
    # no commit yet): it is left out.
    untracked = git("ls-files", "-z", "--others", "--directory", "--exclude-standard", cwd=worktree, env=env)
    nested = [rel.rstrip("/") for rel in _split_z(untracked)
              if rel.endswith("/") and (worktree / rel / ".git").exists()]
    found = [FlaggedFile(rel, "a nested git repository: commit its files without its .git") for rel in nested]
    # Huge files and secrets are left out before staging: staging writes into the user's .git.
    found += _before_staging(worktree, max_file_mb, forbid, env)
    pathspecs = [".", *(f":(exclude,literal){rel}" for rel in gitlinks + [r.path for r in found])]
    git("add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul", cwd=worktree, env=env,
        input=b"".join(os.fsencode(p) + b"\0" for p in pathspecs))
    return found + _guard_staged(worktree, env)


def _before_staging(worktree: Path, max_file_mb: int, forbid: Callable[[str], str | None] | None,
                    env: dict[str, str] | None) -> list[FlaggedFile]:
    """The changed or new files (git lists them) that are over ``max_file_mb``, or hold a
    secret new since HEAD: a secret environment variable's value (plain, base64, hex or
    URL-encoded) or a known secret shape. A refusal names what it is, never the secret."""
    changed = git("ls-files", "-z", "--modified", "--others", "--exclude-standard", cwd=worktree, env=env)
    found = []
    for rel in _split_z(changed):
        try:
            st = (worktree / rel).lstat()
        except OSError:
            continue  # deleted
        if forbid and (why := forbid(rel)):
            found.append(FlaggedFile(rel, why))
        elif stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
            continue  # links are for _guard_staged, nested repositories were found above
        elif not stat.S_ISREG(st.st_mode):
            found.append(FlaggedFile(rel, "not a file git can hold (a FIFO, socket or device)"))
        elif st.st_size > max_file_mb * 1024 * 1024:
            found.append(FlaggedFile(rel, f"{st.st_size / 1024 / 1024:.0f} MB, over the {max_file_mb} MB "
                                      "a run may commit per file"))
        elif why := _new_secrets(worktree, rel, st.st_size):
            found.append(FlaggedFile(rel, why))
    return found


def _new_secrets(worktree: Path, rel: str, size: int) -> str | None:
    if size > SECRET_SCAN_MAX_BYTES:
        return None
    try:
        data = pathguard.read_bytes(worktree, rel, max_bytes=SECRET_SCAN_MAX_BYTES)
    except pathguard.PathRefused:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    hits = secret_matches(data.decode("utf-8", "surrogateescape"))
    if hits:  # what HEAD already had (a test fixture's key, say) is not the run's doing
        before = git("cat-file", "blob", f"HEAD:{rel}", cwd=worktree, check=False)
        hits = {m: why for m, why in hits.items() if m not in before}
    return "it holds " + ", and ".join(dict.fromkeys(hits.values())) if hits else None


def _guard_staged(worktree: Path, env: dict[str, str] | None) -> list[FlaggedFile]:
    """Unstage what must not reach the user's repository: symlinks whose target leaves the
    repository, tracked files turned into symlinks, names with control or bidi characters,
    and new gitlinks. The files stay in the worktree."""
    raw = git("diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "HEAD", cwd=worktree, env=env)
    found = []
    for change in raw_changes(raw):
        if change.status == "D":
            continue
        why = None
        if _UNREADABLE_NAME.search(change.path):
            why = "its name has control or bidi characters, which hide what it is"
        elif change.new_mode == GITLINK:
            why = "a nested git repository: commit its files without its .git"
        elif change.new_mode == SYMLINK and change.old_mode not in (SYMLINK, "000000"):
            why = "a tracked file turned into a symlink: an editor would write through it"
        elif change.new_mode == SYMLINK and _link_leaves(change.path, git("cat-file", "blob", change.new_oid,
                                                                          cwd=worktree, env=env)):
            why = "a symlink that leads out of the repository"
        if why:
            found.append(FlaggedFile(change.path, why))
    _unstage(worktree, found, env)
    return found


def _unstage(worktree: Path, refusals: list[FlaggedFile], env: dict[str, str] | None) -> None:
    """Back to HEAD's version in the index (or out of it, for a new file); the files stay."""
    if refusals:
        git("reset", "-q", "HEAD", "--pathspec-from-file=-", "--pathspec-file-nul", cwd=worktree, env=env,
            input=b"".join(os.fsencode(f":(literal){r.path}") + b"\0" for r in refusals))


SECRET_SCAN_MAX_BYTES = 4 * 1024 * 1024  # bigger files are data, not where a key is pasted


def _link_leaves(rel: str, target: str) -> bool:
    """Whether a link at repo-relative ``rel`` pointing at ``target`` resolves outside the repo."""
    if target.startswith("/"):
        return True
    joined = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    return joined == ".." or joined.startswith("../")


def delete_branch(repo_root: Path, branch: str) -> None:
    """Delete a run's branch. git refuses a branch checked out in any worktree, and so do we."""
    if not branch.startswith("minion/"):
        raise MinionError(f"refusing to delete '{branch}': minion only deletes its own minion/* branches")
    try:
        git("branch", "-D", "--", branch, cwd=repo_root)
    except GitError as e:
        raise MinionError(f"cannot delete {branch}: {e.stderr.strip()}") from None


class BranchMoved(MinionError):
    """A run's branch was changed by someone else; minion does not overwrite it."""


def changed_files(repo_root: Path, base: str, head: str) -> list[str]:
    """Repo-relative paths that differ; a rename counts as its two paths."""
    out = git("diff", "--name-only", "-z", "--no-renames", "--no-relative", base, head,
              "--", cwd=repo_root)
    return _split_z(out)


# Deterministic patch text whatever the user's diff.* config says.
_DIFF_OPTS = ("--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
              "--src-prefix=a/", "--dst-prefix=b/", "--submodule=short")


def diff(repo_root: Path, base: str, head: str) -> str:
    """Unified diff from ``base`` to ``head``, with renames, non-ASCII paths unquoted."""
    return git("-c", "core.quotePath=false", "diff", *_DIFF_OPTS, "--find-renames", base, head,
               "--", cwd=repo_root)


def diffstat(repo_root: Path, base: str, head: str) -> str:
    return git("-c", "core.quotePath=false", "diff", "--stat", "--no-color", "--no-relative",
               "--find-renames", base, head, "--", cwd=repo_root)


# --- hunks -----------------------------------------------------------------------------

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MODE_LINE = re.compile(r"(?:new file mode|deleted file mode|old mode|new mode|index \S+) (\d+)$")


def hunks(repo_root: Path, base: str, head: str) -> list[Hunk]:
    """The text hunks from ``base`` to ``head`` (``git diff -U0``), file by file.

    Only regular files have hunks: binary files, symlinks and submodules are left out,
    since no editor buffer shows them. Renames count as a deletion plus an addition.
    """
    patch = git("diff", *_DIFF_OPTS, "-U0", "--inter-hunk-context=0", "--no-renames", base,
                head, "--", cwd=repo_root)
    return _parse_hunks(patch.split("\n"))


def _parse_hunks(lines: list[str]) -> list[Hunk]:
    result: list[Hunk] = []
    path, is_text, i = "", False, 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("diff --git "):
            path, is_text = "", True
        elif mode := _MODE_LINE.match(line):
            is_text = is_text and mode.group(1) not in (SYMLINK, GITLINK)
        elif line.startswith("--- "):
            path = _patch_path(line[4:])
        elif line.startswith("+++ ") and (new_path := _patch_path(line[4:])) != "/dev/null":
            path = new_path  # else a deleted file: keep the old path
        elif (header := _HUNK_HEADER.match(line)) and is_text:
            hunk, i = _read_hunk(path, header, lines, i)
            result.append(hunk)
    return result


def _read_hunk(path: str, header: re.Match, lines: list[str], i: int) -> tuple[Hunk, int]:
    """Consume the hunk's lines by count: a removed line may itself start with "-- "."""
    old_start, old_lines, new_start, new_lines = (
        int(n) if n is not None else 1 for n in header.groups())
    old: list[str] = []
    new: list[str] = []
    last = old
    while i < len(lines):
        line = lines[i]
        if line.startswith("-") and len(old) < old_lines:
            last = old
        elif line.startswith("+") and len(new) < new_lines:
            last = new
        elif line.startswith("\\") and last:  # "\ No newline at end of file"
            last[-1] = last[-1].removesuffix("\n")
            i += 1
            continue
        else:
            break
        last.append(line[1:] + "\n")
        i += 1
    hunk = Hunk(path, old_start, old_lines, new_start, new_lines, "".join(old), "".join(new))
    return hunk, i


def _patch_path(label: str) -> str:
    """The path of a "--- a/x" or "+++ b/x" label; "/dev/null" for a missing side."""
    label = label.removesuffix("\t")  # git appends a tab to names with spaces
    if label.startswith('"'):
        label = _c_unquote(label)
    return label if label == "/dev/null" else label[2:]


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _c_unquote(quoted: str) -> str:
    out = bytearray()
    i = 1
    while quoted[i] != '"':
        char = quoted[i]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
        elif quoted[i + 1] in "01234567":
            out.append(int(quoted[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(_C_ESCAPES[quoted[i + 1]])
            i += 2
    return out.decode("utf-8", "surrogateescape")


# --- names -----------------------------------------------------------------------------

SLUG_MAX = 40


def slugify(task: str) -> str:
    """A branch-name fragment: lowercase ASCII words joined by dashes, at most 40 chars."""
    ascii_text = unicodedata.normalize("NFKD", task).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug[: SLUG_MAX + 1]
        # Cut at the last whole word when there is one.
        slug = cut[: cut.rfind("-")] if "-" in cut else slug[:SLUG_MAX]
    return slug.strip("-") or "task"
