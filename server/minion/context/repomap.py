"""The ranked repo map: the repository's most relevant definitions within a token budget.

The approach is aider's. Files use names (calls, types, identifiers) that other files
define; a personalised PageRank over that graph, restarting mostly at the task's files,
ranks the files, and each file's rank flows through the names it uses to their
definitions. The best definitions are rendered with their signatures, grouped per file,
as many as fit the budget.

Parsing is the cost, so each file's definitions and reference counts are cached by
content (git blob id): a repo is parsed once, then only the files that changed. The map
of a git tree (rather than of the work tree) is read from git's object store alone, so
it can be built while that tree is being checked out, and is cached whole: a tree id
names its content exactly. A cold start can be time-boxed: the map then ranks the files
parsed in time, the task's first, and the rest are parsed into the cache in the background.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import math
import os
import re
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future
from operator import attrgetter
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from pathspec import GitIgnoreSpec

from ..git import git, git_command
from .languages import language_for
from .symbols import Symbol, analyze

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_BUDGET_TOKENS = 2048
DEFAULT_MAX_FILE_BYTES = 512 * 1024
# Bump when extraction or the tags' format changes: old cache entries are then never read
# again. Rendered maps are keyed by it too, and by _MAP_VERSION: bump that when ranking or
# rendering changes.
_EXTRACTOR_VERSION = 4
_MAP_VERSION = 1
_MAX_STORED_MAPS = 1000  # rendered maps kept, the newest (a few KB each)

_MINIFIED_NAMES = re.compile(r"[.-]min\.(js|mjs|cjs|css)$|\.bundle\.js$")
_GENERATED_MARKERS = re.compile(rb"Code generated .{0,200}DO NOT EDIT|@generated")
_GENERATED_HEAD_BYTES = 2048  # markers count only in a file's header
_MAX_AVERAGE_LINE = 1000  # longer on average: minified or data, not code
# Parsing in worker processes pays off from this many files (one costs ~0.2 s to start).
_PARALLEL_MIN_FILES = 200
_MAX_WORKERS = 8
# A time-boxed parse runs beside the run's own start (the worktree's checkout), and its
# rest beside the run: its workers take the CPU time those leave idle.
_BOXED_WORKER_NICE = 10
_STORE_EVERY_SECONDS = 1.0  # a background parse caches as it goes: an early exit keeps most of it
_FRAME = struct.Struct("<I")  # a worker sends each file's tags after their length
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])  # where `minion` is importable from

# How much a file's use of a name weighs, after aider: names the task mentions pull
# hard, long specific names (snake_case, camelCase) say more than short ones, private
# names and names defined in many files (get, run, __init__) say little.
_FOCUS_BOOST = 10.0
_SPECIFIC_BOOST = 3.0
_PRIVATE_DAMPING = 0.1
_COMMON_DEFINERS = 5
_COMMON_DAMPING = 0.1
# A plain identifier is often a variable that happens to share a definition's name
# (`end`, `key`, `args`): it counts for less than a call or a type reference.
_MENTION_WEIGHT = 0.1
# Inverse document frequency, log(1 + _IDF_SCALE / share of files using the name): a
# name half the files use (`str`, `get`) says little about which definition one needs.
_IDF_SCALE = 0.05
# Share of the PageRank restarts that go to the focus files (the rest are uniform).
_FOCUS_SHARE = 0.9
_DAMPING = 0.85
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-4  # L1 change of the rank vector; finer does not reorder the top
_PRIVATE, _SPECIFIC, _OWN = 1, 2, 4  # a used name's flags
_HASH, _INT = "<u8", "<i4"  # the packed tags' arrays, see _FileTags


class _FileTags(NamedTuple):
    """One file's tags, packed so that a repo's tags load in milliseconds: marshal makes a
    few objects per file, numpy reads the arrays in place (little-endian: _HASH, _INT).

    Names are compared by their 64-bit hashes: two of a million names share one with a
    chance below 1e-7. The definitions are those other files can reach, in file order;
    the names used are sorted, with their counts.
    """

    defined: bytes  # _HASH of each definition's name
    defines: bytes  # 1 per definition that defines its name for the ranking, see _extract, else 0
    lines: bytes  # _INT per definition, 1-based
    parents: bytes  # _INT per definition: the enclosing one's index, -1 at top level
    signatures: str  # one line per definition
    referenced: bytes  # _HASH per name used
    flags: bytes  # per name used: _PRIVATE or _SPECIFIC (see _name_flags), and _OWN
    uses: bytes  # _INT per name used: calls and type references, see symbols.analyze
    mentions: bytes  # _INT per name used: any other identifier


class RepoMapCache:
    """Tags per (extractor version, language, blob id) and rendered maps per their inputs,
    in SQLite at ``path`` (in memory if None); processes share the file.

    ``parsed`` counts the files this cache had to parse, so callers (and tests) can see
    that unchanged files are never parsed twice. ``indexing`` is the parse the last
    time-boxed build left running in the background (None if none did): its result()
    waits for it, and raises what failed (the files parsed are cached all the same).
    """

    def __init__(self, path: str | PathLike[str] | None = None):
        self.path = Path(path) if path is not None else None
        self.parsed = 0
        self.indexing: Future[None] | None = None
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self._lock:
            db = self._connect()
            for chunk in range(0, len(keys), 500):  # SQLite's bound-variable limit
                part = keys[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, data FROM file_tags WHERE key IN ({marks})", part))
        return found

    def put_many(self, entries: dict[str, bytes]) -> None:
        with self._lock:
            db = self._connect()
            with db:
                db.executemany("INSERT OR REPLACE INTO file_tags (key, data) VALUES (?, ?)", entries.items())

    def put_parsed(self, entries: dict[str, bytes]) -> None:
        """Store tags parsed for this cache, and count them in ``parsed``."""
        self.put_many(entries)
        with self._lock:
            self.parsed += len(entries)

    def get_map(self, key: str) -> str | None:
        with self._lock:
            row = self._connect().execute("SELECT text FROM maps WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_map(self, key: str, text: str) -> None:
        with self._lock:
            db = self._connect()
            with db:
                db.execute("INSERT OR REPLACE INTO maps (key, text) VALUES (?, ?)", (key, text))
                db.execute(
                    "DELETE FROM maps WHERE rowid <= (SELECT max(rowid) FROM maps) - ?", (_MAX_STORED_MAPS,)
                )

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection, used under the lock, from whichever thread builds a map.
            self._db = sqlite3.connect(
                ":memory:" if self.path is None else str(self.path),
                timeout=30,
                check_same_thread=False,
            )
            self._db.execute("PRAGMA page_size=16384")  # a new file's: a repo's tags load faster
            self._db.execute("PRAGMA journal_mode=WAL")  # concurrent runs read while one writes
            # (Versions before 4 kept JSON in a table `tags`, never read now.)
            self._db.execute("CREATE TABLE IF NOT EXISTS file_tags (key TEXT PRIMARY KEY, data BLOB NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS maps (key TEXT PRIMARY KEY, text TEXT NOT NULL)")
        return self._db


def build_repo_map(
    repo_root: Path,
    *,
    tree: str | None = None,
    exclude: Sequence[str] = (),
    focus_files: Sequence[str | PathLike[str]] = (),
    focus_idents: Sequence[str] = (),
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    cache: RepoMapCache | str | PathLike[str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    parse_seconds: float | None = None,
) -> str:
    """The map of ``repo_root``'s tracked files, at most ``budget_tokens`` (chars / 4).

    With ``tree`` (a commit or tree in ``repo_root``'s object store), the map is of that
    tree's files, read from the object store and never from the work tree; it is cached
    whole, and the same inputs give the stored text at once. ``exclude`` holds
    gitignore-style patterns of paths (secrets) that are never read nor mapped.

    ``focus_files`` (the anchor file, files the task names; absolute or repo-relative)
    and files whose stem is one of ``focus_idents`` get most of the PageRank teleport
    mass; definitions named in ``focus_idents`` are boosted. ``cache`` is a
    RepoMapCache or the path of its SQLite file.

    ``parse_seconds`` bounds the parse of what the cache lacks: the files are parsed in
    order of relevance (the focus files, the files beside them, the rest), the map ranks
    what was parsed by then (the focus files are always waited for) and its last line says
    how many files it leaves out; the rest are parsed and cached in the background (see
    RepoMapCache.indexing). Such a partial map is not stored whole. A complete map is
    deterministic.
    """
    root = Path(repo_root)
    if not isinstance(cache, RepoMapCache):
        cache = RepoMapCache(cache)
    named = {repo_relative(root, f) for f in focus_files}
    idents = set(focus_idents)
    args = (cache, named, idents, budget_tokens, max_file_bytes, exclude, parse_seconds)
    if tree is None:
        return _build(root, None, *args)[0]
    tree_id = git("rev-parse", "--verify", "--end-of-options", f"{tree}^{{tree}}", cwd=root)
    key = _map_key(tree_id, named, idents, budget_tokens, max_file_bytes, exclude)
    text = cache.get_map(key)
    if text is None:
        text, complete = _build(root, tree_id, *args)
        if complete:  # the key names the full map
            cache.put_map(key, text)
    return text


def _build(
    root: Path,
    tree_id: str | None,
    cache: RepoMapCache,
    named: set[str],
    idents: set[str],
    budget_tokens: int,
    max_file_bytes: int,
    exclude: Sequence[str],
    parse_seconds: float | None,
) -> tuple[str, bool]:
    """The map's text, and whether it is complete (no file left out for want of time)."""
    mappable = _mappable_files(root, tree_id, max_file_bytes, _excluder(exclude))
    focus = {path for path in mappable if path in named or _stem_and_suffix(path)[0] in idents}
    files, unindexed = _load_tags(root, tree_id, cache, mappable, focus, parse_seconds)
    # No more than budget_tokens definitions fit: each takes 4 characters at the least.
    ranked = _rank_definitions(files, focus & files.keys(), idents, limit=budget_tokens)
    budget_chars = budget_tokens * 4
    if not unindexed:
        return _fit(ranked, files, budget_chars), True
    note = f"({unindexed:,} of {len(mappable):,} files not indexed yet: not shown)\n"
    text = _fit(ranked, files, max(0, budget_chars - len(note) - 1))
    text = text + "\n" + note if text else note
    return (text if len(text) <= budget_chars else ""), False


def _map_key(
    tree_id: str, named: set[str], idents: set[str], budget: int, max_file_bytes: int, exclude: Sequence[str]
) -> str:
    inputs = [_EXTRACTOR_VERSION, _MAP_VERSION, tree_id, sorted(named), sorted(idents), budget,
              max_file_bytes, list(exclude)]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def _excluder(patterns: Sequence[str]) -> Callable[[str], bool]:
    if not patterns:
        return lambda path: False
    return GitIgnoreSpec.from_lines(patterns).match_file


def _stem_and_suffix(path: str) -> tuple[str, str]:
    """A posix path's ``stem`` and ``suffix`` as pathlib has them, without its cost (2 us a path)."""
    name = path[path.rfind("/") + 1 :]
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


# Which files, and their tags


def _mappable_files(
    root: Path, tree_id: str | None, max_file_bytes: int, excluded: Callable[[str], bool]
) -> dict[str, tuple[str, str]]:
    """The files to map -> (their tags' cache key, blob id), sorted by path."""
    languages: dict[str, str | None] = {}  # by suffix: language_for costs 2 us a path

    def language(path: str) -> str | None:
        """The file's language; None when it is not to be mapped (nor read)."""
        suffix = _stem_and_suffix(path)[1]
        if suffix not in languages:
            spec = language_for(path)
            languages[suffix] = spec.name if spec else None
        if languages[suffix] is None or _MINIFIED_NAMES.search(path) or excluded(path):
            return None
        return languages[suffix]

    listed = _work_tree_blobs(root, language) if tree_id is None else _tree_blobs(root, tree_id, language)
    return {
        path: (f"{_EXTRACTOR_VERSION}:{lang}:{blob}", blob)
        for path, (lang, blob, size) in sorted(listed.items())
        if size <= max_file_bytes
    }


def _load_tags(
    root: Path,
    tree_id: str | None,
    cache: RepoMapCache,
    mappable: dict[str, tuple[str, str]],
    focus: AbstractSet[str] = frozenset(),
    parse_seconds: float | None = None,
) -> tuple[dict[str, _FileTags], int]:
    """Tags of the ``mappable`` files that have any, by path, parsing only what the cache
    lacks (the ``focus`` files first); and how many files were left out, still parsing in
    the background (with ``parse_seconds`` only, see `_parse`)."""
    stored = cache.get_many(sorted({key for key, _ in mappable.values()}))
    missing: dict[str, tuple[str, str]] = {}  # in the order to parse them
    for path in _parse_order([path for path, (key, _) in mappable.items() if key not in stored], focus):
        missing.setdefault(mappable[path][0], (path, mappable[path][1]))
    if missing:
        waited = sum(path in focus for path, _ in missing.values())  # the first ones
        stored.update(_parse(root, tree_id is not None, cache, missing, waited, parse_seconds))
    tags = {path: marshal.loads(stored[key]) for path, (key, _) in mappable.items() if key in stored}
    files = {path: _FileTags._make(raw) for path, raw in tags.items() if raw is not None}
    return files, len(mappable) - len(tags)


def _parse_order(paths: list[str], focus: AbstractSet[str]) -> list[str]:
    """``paths`` in the order a time-boxed parse wants them: the focus files, the files in
    their folders, then the rest; each in path order."""
    folders = {_folder(path) for path in focus}
    return sorted(paths, key=lambda path: (path not in focus, _folder(path) not in folders, path))


def _folder(path: str) -> str:
    return path[: path.rfind("/") + 1]


def _tree_blobs(
    root: Path, tree_id: str, language: Callable[[str], str | None]
) -> dict[str, tuple[str, str, int]]:
    """The tree's regular files that have a ``language`` -> (language, blob id, size);
    links and submodules never."""
    blobs = {}
    for entry in git("ls-tree", "-r", "-l", "-z", tree_id, cwd=root).split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, _type, blob, size = meta.split()
        if mode in ("100644", "100755") and (lang := language(path)):
            blobs[path] = (lang, blob, int(size))
    return blobs


def _work_tree_blobs(root: Path, language: Callable[[str], str | None]) -> dict[str, tuple[str, str, float]]:
    """Tracked regular files that have a ``language`` -> (language, content id, size) as the
    work tree has them: the index's blob id, or a hash of a modified file."""
    blobs = {}
    for entry in git("ls-files", "-s", "-z", cwd=root).split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, blob, _stage = meta.split()
        if mode in ("100644", "100755") and (lang := language(path)):
            blobs[path] = (lang, blob)
    for path in git("diff-files", "-z", "--name-only", cwd=root).split("\0"):
        if path in blobs:
            blobs[path] = (blobs[path][0], _hash_file(root / path))
    return {path: (lang, blob, _size(root / path)) for path, (lang, blob) in blobs.items() if blob}


def _size(path: Path) -> float:
    """A regular file's size; infinite (never mapped) for anything else, symlinks included:
    a hostile repo could link `x.py` to a secret outside it, or make it a FIFO."""
    try:
        info = path.lstat()
    except OSError:
        return math.inf
    return info.st_size if stat.S_ISREG(info.st_mode) else math.inf


def _hash_file(path: Path) -> str:
    """Git's blob id of a regular file on disk ('' when it is gone or is something else)."""
    data = _read(path)
    return "" if data is None else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read(path: Path) -> bytes | None:
    if _size(path) == math.inf:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _parse(
    root: Path,
    from_tree: bool,
    cache: RepoMapCache,
    missing: dict[str, tuple[str, str]],
    waited: int,
    parse_seconds: float | None,
) -> dict[str, bytes]:
    """Parse ``missing`` (cache key -> (path, blob id), in the order wanted) and cache their
    encoded tags; returns them. A cold start on a big repo parses on every core.

    With ``parse_seconds``, returns what was parsed by then, the first ``waited`` entries at
    least, and leaves the rest parsing into the cache in the background (``cache.indexing``).
    A worker's failure known by the return is raised; a later one is the background's.
    Fewer than _PARALLEL_MIN_FILES files are parsed here, whole: it takes less than the
    workers' start.
    """
    keys, entries = list(missing), list(missing.values())
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    if len(entries) < _PARALLEL_MIN_FILES or (workers < 2 and parse_seconds is None):
        fresh = dict(zip(keys, _extract_all(root, entries, from_tree), strict=True))
        cache.put_parsed(fresh)
        return fresh
    nice = 0 if parse_seconds is None else _BOXED_WORKER_NICE
    extraction = _Extraction(root, entries, from_tree, workers, nice, waited)

    def store(parsed: dict[int, bytes]) -> dict[str, bytes]:
        fresh = {keys[index]: tags for index, tags in parsed.items()}
        cache.put_parsed(fresh)
        return fresh

    ended = extraction.wait(parse_seconds)
    fresh = store(extraction.take())
    if not ended:
        cache.indexing = _finish_in_background(extraction, store)
    if extraction.failure:
        raise RuntimeError(extraction.failure)
    return fresh


class _Extraction:
    """Tags of many files, parsed in worker processes (plain `python -c` ones: tree-sitter
    holds the GIL while it parses, and multiprocessing's spawn mode would re-import the
    caller's __main__) that send each file's as soon as it is done, so that a caller can
    take what is done by a deadline and leave the rest running."""

    def __init__(
        self, root: Path, entries: list[tuple[str, str]], from_tree: bool, workers: int, nice: int, waited: int
    ):
        self.failure: str | None = None  # the first worker's that failed
        self._entries = entries
        self._waited = waited  # the first entries, which a deadline waits for
        self._waited_done = 0
        self._new: dict[int, bytes] = {}  # by index in entries, until taken
        self._running = workers
        self._changed = threading.Condition()
        for first in range(workers):  # round robin: even shares, each in the order wanted
            share = range(first, len(entries), workers)
            threading.Thread(target=self._collect, args=(root, share, from_tree, nice),
                             name="minion-repo-map-worker", daemon=True).start()

    def _collect(self, root: Path, share: range, from_tree: bool, nice: int) -> None:
        try:
            for i, tags in enumerate(_extract_in_worker(root, [self._entries[j] for j in share], from_tree, nice)):
                with self._changed:
                    self._new[share[i]] = tags
                    if share[i] < self._waited:
                        self._waited_done += 1
                        self._changed.notify_all()
        except Exception as e:
            with self._changed:
                self.failure = self.failure or str(e)
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def wait(self, seconds: float | None) -> bool:
        """Wait until every worker has ended (True), or until ``seconds`` have passed and the
        waited-for entries are parsed, or a worker failed (False)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._changed:
            while self._running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if self.failure or self._waited_done == self._waited:
                        return False
                    left = None  # past the deadline: a change is what can end the wait
                self._changed.wait(left)
            return True

    def take(self) -> dict[int, bytes]:
        """The tags parsed since the last take, by index."""
        with self._changed:
            new, self._new = self._new, {}
        return new


def _finish_in_background(extraction: _Extraction, store: Callable[[dict[int, bytes]], object]) -> Future[None]:
    """Cache the rest of ``extraction`` as it comes, in a daemon thread (a process that
    exits first loses the rest: `minion warm` parses it again). Nothing it raises reaches
    the process: the future holds it."""
    done: Future[None] = Future()

    def finish() -> None:
        try:
            while not extraction.wait(_STORE_EVERY_SECONDS):
                store(extraction.take())
            store(extraction.take())
            if extraction.failure:
                raise RuntimeError(extraction.failure)
        except BaseException as e:
            done.set_exception(e)
        else:
            done.set_result(None)

    threading.Thread(target=finish, name="minion-repo-map-index", daemon=True).start()
    return done


def _extract_in_worker(root: Path, entries: list[tuple[str, str]], from_tree: bool, nice: int) -> Iterator[bytes]:
    """The entries' encoded tags from a worker process, each as soon as it is sent."""
    code = (f"import os, sys; os.nice({nice}); sys.path.insert(0, {_IMPORT_ROOT!r}); "
            f"import {__name__} as m; m.serve_extract()")
    sent = 0
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None  # PIPE
        request = marshal.dumps((os.fsdecode(root), entries, from_tree))
        feeder = threading.Thread(target=_feed, args=(proc.stdin, request), daemon=True)
        feeder.start()
        while sent < len(entries):
            header = proc.stdout.read(_FRAME.size)
            tags = proc.stdout.read(_FRAME.unpack(header)[0]) if len(header) == _FRAME.size else b""
            if not tags:  # the worker ended early: its stderr says why
                break
            yield tags
            sent += 1
        feeder.join()
        errors = proc.stderr.read()
    if proc.returncode or sent < len(entries):
        raise RuntimeError(f"repo map worker failed: {errors.decode(errors='replace')}")


def serve_extract() -> None:
    """A worker's main: (root, [(path, blob id)], from_tree) on stdin (marshal: the worker
    runs the same Python); each file's encoded tags on stdout as soon as they are made,
    after their length (_FRAME)."""
    root, entries, from_tree = marshal.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    for tags in _extract_all(Path(root), entries, from_tree):
        out.write(_FRAME.pack(len(tags)) + tags)
        out.flush()


def _extract_all(root: Path, entries: list[tuple[str, str]], from_tree: bool) -> Iterator[bytes]:
    contents: Iterable[bytes | None]
    if from_tree:
        contents = _blob_contents(root, [blob for _, blob in entries])
    else:
        contents = (_read(root / path) for path, _ in entries)
    return (_extract(path, data) for (path, _), data in zip(entries, contents, strict=True))


def _blob_contents(root: Path, blobs: list[str]) -> Iterator[bytes]:
    """The blobs' contents, streamed from one `git cat-file --batch` (a thread writes the
    ids, so that neither pipe waits for the other to drain)."""
    argv, env = git_command("cat-file", "--batch", "--buffer", cwd=root)
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as proc:
        assert proc.stdout is not None  # PIPE
        ids = "".join(f"{blob}\n" for blob in blobs).encode()
        feeder = threading.Thread(target=_feed, args=(proc.stdin, ids), daemon=True)
        feeder.start()
        for blob in blobs:
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise RuntimeError(f"git cat-file in {root} answered {header!r} for blob {blob}")
            yield proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
        feeder.join()


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        with pipe:
            pipe.write(data)
    except (OSError, ValueError):  # the process stopped reading, or the reader gave up: it says why
        pass


def _extract(path: str, data: bytes | None) -> bytes:
    """One file's tags, encoded; None when it is unreadable, binary, generated or minified
    (never mapped)."""
    if data is None or b"\0" in data[:8192] or _is_generated(data):
        return marshal.dumps(None)
    if len(data) / (data.count(b"\n") + 1) > _MAX_AVERAGE_LINE:
        return marshal.dumps(None)
    language = language_for(path)
    assert language is not None  # _mappable_files passes only files of a known language
    symbols, references = analyze(language, data)
    definitions = _api(symbols)
    names, kinds, lines, parents, signatures = zip(*definitions, strict=True) if definitions else ((),) * 5
    # A file defines a name once, however often it does. An impl block extends a type
    # defined elsewhere; it does not define it.
    first: dict[str, int] = {}
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind != "impl":
            first.setdefault(name, i)
    # A file's uses of names it defines itself are no edges: they most likely mean its
    # own, and the map is about what the other files offer.
    own = set(names)
    counts = references.values()
    tags = _FileTags(
        _hashes(names),
        bytes(first.get(name) == i for i, name in enumerate(names)),
        _ints(lines),
        _ints(parents),
        "\n".join(signatures),
        _hashes(references),
        bytes(_name_flags(name) | (_OWN if name in own else 0) for name in references),
        _ints([uses for uses, _ in counts]),
        _ints([mentions for _, mentions in counts]),
    )
    return marshal.dumps(tuple(tags))


def _is_generated(data: bytes) -> bool:
    head = data[:_GENERATED_HEAD_BYTES]
    # Every marker has the word; finding it is a fraction of the cost of the search.
    return b"generated" in head and _GENERATED_MARKERS.search(head) is not None


def _api(symbols: list[Symbol], parent: int = -1, into: list[tuple] | None = None) -> list[tuple]:
    """The definitions other files can reach, as (name, kind, line, parent, signature):
    not the ones local to a function body."""
    into = [] if into is None else into
    for symbol in symbols:
        into.append((symbol.name, symbol.kind, symbol.line, parent, symbol.signature))
        if symbol.kind not in ("function", "method"):
            _api(symbol.children, len(into) - 1, into)
    return into


def _hashes(names: Iterable[str]) -> bytes:
    """The names' _HASH values, packed (blake2b: the same in every process)."""
    return b"".join(hashlib.blake2b(n.encode(errors="surrogatepass"), digest_size=8).digest() for n in names)


def _ints(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def _name_flags(name: str) -> int:
    """What the ranking weighs a name by (part of the tags: bump _EXTRACTOR_VERSION on a change)."""
    if name.startswith("_"):
        return _PRIVATE
    if len(name) >= 8 and ("_" in name or name != name.lower()):
        return _SPECIFIC
    return 0


def repo_relative(root: Path, path: str | PathLike[str]) -> str:
    """``path`` (absolute, or relative to ``root``) as a posix path relative to ``root``."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(Path(root).resolve())
        except ValueError:  # outside the repo: left as it is, matching nothing
            return str(path)
    return p.as_posix()


# Ranking


def _rank_definitions(
    files: dict[str, _FileTags], focus: set[str], idents: set[str], limit: int
) -> list[tuple[str, int]]:
    """The best ``limit`` definitions as (path, index), ties broken by path and line.

    A definition scores the rank that flows to its name (split among the files defining
    it), plus an even share of its file's own teleport mass so that definitions nobody
    uses still place, below the used ones; names the task mentions count ten times.
    """
    if not files:
        return []
    import numpy as np  # here: a map served from the cache never pays for the import (0.1 s)

    paths = list(files)
    idents_hashed = np.frombuffer(_hashes(sorted(idents)), _HASH)
    graph = _Graph(list(files.values()), idents_hashed)
    teleport = _teleport(paths, focus)
    flowed = graph.name_inflow(graph.pagerank(teleport)) / graph.n_definers
    flowed = np.append(flowed, 0.0)  # at number -1: a definition whose name no file uses
    own = (1 - _DAMPING) * teleport / np.maximum(1, graph.def_count)
    score = flowed[graph.def_name] + own[graph.def_node]
    score = np.where(np.isin(graph.def_hash, idents_hashed), score * _FOCUS_BOOST, score)
    # The sort is stable: definitions on one line keep their file order.
    best = np.lexsort((graph.def_line, graph.def_node, -score))[:limit]
    nodes = graph.def_node[best]
    index = best - (np.cumsum(graph.def_count) - graph.def_count)[nodes]
    return [(paths[node], i) for node, i in zip(nodes.tolist(), index.tolist(), strict=True)]


class _Graph:
    """Files and the names they use, as numpy arrays: ranking a repo costs a few passes
    over them, with no Python loop per name or use.

    The edges go from a file to a name it uses and on to the name's definers, split
    evenly: a use of `get` does not say which of twenty `get`s it means. Keeping the
    names between files keeps the graph linear in size (uses + definitions) rather than
    uses x definers.
    """

    def __init__(self, tags: list[_FileTags], idents_hashed: np.ndarray):
        import numpy as np

        def joined(field: str, dtype: npt.DTypeLike) -> np.ndarray:
            return np.frombuffer(b"".join(map(attrgetter(field), tags)), dtype)

        def owners(field: str) -> np.ndarray:  # the file of each item of the joined field
            counts = np.fromiter(map(len, map(attrgetter(field), tags)), np.intp, len(tags))
            return np.repeat(np.arange(len(tags)), counts)

        self.n_nodes = len(tags)
        # Every definition, in file order: its file, line, and its name's number (below).
        self.def_node, self.def_line = owners("defines"), joined("lines", _INT)
        self.def_count = np.bincount(self.def_node, minlength=len(tags))
        defines = joined("defines", np.bool_)
        used, use_node, flags = joined("referenced", _HASH), owners("flags"), joined("flags", np.uint8)

        # One sort of all the hashes, used and defined, groups the names; those that files
        # use and define are numbered, the others are -1 (a stable sort is the faster here).
        hashes = np.concatenate([used, joined("defined", _HASH)])
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        starts = np.ones(len(hashes), bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        group = np.empty(len(hashes), np.intp)
        group[order] = np.cumsum(starts) - 1
        use_group, def_group = group[: len(used)], group[len(used) :]
        n_groups = int(starts.sum())
        referrers = np.bincount(use_group, minlength=n_groups)
        named = (referrers > 0) & (np.bincount(def_group[defines], minlength=n_groups) > 0)
        number = np.where(named, np.cumsum(named) - 1, -1)
        use_name, self.def_name = number[use_group], number[def_group]
        self.n_names = int(named.sum())
        self.def_hash = hashes[len(used) :]

        definer = defines & (self.def_name >= 0)  # each file once per name, in file order
        self.definer_node, self.definer_name = self.def_node[definer], self.def_name[definer]
        self.n_definers = np.bincount(self.definer_name, minlength=self.n_names).astype(float)

        edge = (use_name >= 0) & (flags & _OWN == 0)  # a file's uses of what others define
        self.edge_node, self.edge_name = use_node[edge], use_name[edge]
        name_flags = np.zeros(self.n_names, np.uint8)
        name_flags[self.edge_name] = flags[edge] & (_PRIVATE | _SPECIFIC)
        focused = np.isin(ordered[starts][named], idents_hashed)
        weight = _name_weights(name_flags, self.n_definers, referrers[named] / len(tags), focused)
        strength = weight[self.edge_name] * np.sqrt(
            joined("uses", _INT)[edge] + _MENTION_WEIGHT * joined("mentions", _INT)[edge]
        )
        # Each file's out-weight sums to 1 over its edges; a file with none restarts.
        total = np.bincount(self.edge_node, strength, minlength=len(tags))
        self.share = strength / total[self.edge_node]
        self.dangling = total == 0

    def name_inflow(self, rank: np.ndarray) -> np.ndarray:
        """How much rank flows into each name from the files that use it."""
        import numpy as np

        flow = (_DAMPING * rank)[self.edge_node] * self.share
        return np.bincount(self.edge_name, flow, minlength=self.n_names)

    def pagerank(self, teleport: np.ndarray) -> np.ndarray:
        """Personalised PageRank by power iteration; files that use no name restart by ``teleport``."""
        import numpy as np

        rank = teleport
        for _ in range(_MAX_ITERATIONS):
            restart = (1 - _DAMPING) + _DAMPING * rank[self.dangling].sum()
            share = (self.name_inflow(rank) / self.n_definers)[self.definer_name]
            new = restart * teleport + np.bincount(self.definer_node, share, minlength=self.n_nodes)
            delta = np.abs(new - rank).sum()
            rank = new
            if delta < _TOLERANCE:
                break
        return rank


def _name_weights(
    flags: np.ndarray, n_definers: np.ndarray, referred_share: np.ndarray, focused: np.ndarray
) -> np.ndarray:
    import numpy as np

    weight = np.where(focused, _FOCUS_BOOST, 1.0)
    weight *= np.where(flags == _PRIVATE, _PRIVATE_DAMPING, np.where(flags == _SPECIFIC, _SPECIFIC_BOOST, 1.0))
    weight *= np.where(n_definers > _COMMON_DEFINERS, _COMMON_DAMPING, 1.0)
    return weight * np.log(1 + _IDF_SCALE / referred_share)


def _teleport(paths: list[str], focus: set[str]) -> np.ndarray:
    """Where a random walk restarts: mostly at the focus files, else anywhere."""
    import numpy as np

    uniform = np.full(len(paths), 1.0 / len(paths))
    if not focus:
        return uniform
    focused = np.fromiter((p in focus for p in paths), bool, len(paths))
    return (1 - _FOCUS_SHARE) * uniform + np.where(focused, _FOCUS_SHARE / len(focus), 0.0)


# Rendering


def _fit(ranked: list[tuple[str, int]], files: dict[str, _FileTags], budget_chars: int) -> str:
    """The longest prefix of ``ranked`` whose rendering fits the budget (binary search)."""
    # A rendered definition takes 4 characters at the very least ("1 x\n").
    low, high = 0, min(len(ranked), budget_chars // 4)
    unpacked = {path: _unpack(files[path]) for path in dict.fromkeys(path for path, _ in ranked[:high])}
    best = ""
    while low < high:
        middle = (low + high + 1) // 2
        text = _render(ranked[:middle], unpacked)
        if len(text) <= budget_chars:
            low, best = middle, text
        else:
            high = middle - 1
    return best


def _unpack(tags: _FileTags) -> list[tuple[int, int, str]]:
    """A file's definitions as (line, parent, signature)."""
    lines = struct.unpack(f"<{len(tags.lines) // 4}i", tags.lines)
    parents = struct.unpack(f"<{len(tags.parents) // 4}i", tags.parents)
    signatures = tags.signatures.split("\n") if lines else []  # "" holds no signature
    return list(zip(lines, parents, signatures, strict=True))


def _render(chosen: list[tuple[str, int]], files: dict[str, list[tuple[int, int, str]]]) -> str:
    """Chosen definitions (with their enclosing ones, for context) grouped per file.

    Files come in the order of their best definition; definitions in line order.
    """
    per_file: dict[str, set[int]] = {}
    for path, index in chosen:
        shown = per_file.setdefault(path, set())
        definitions = files[path]
        while index >= 0 and index not in shown:
            shown.add(index)
            index = definitions[index][1]
    blocks = []
    for path, shown in per_file.items():
        definitions = files[path]
        rows = [(definitions[i][0], _depth(definitions, i), definitions[i][2]) for i in sorted(shown)]
        width = len(str(rows[-1][0]))
        lines = [f"{line:>{width}} {'  ' * depth}{sig}" for line, depth, sig in rows]
        blocks.append(path + ":\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _depth(definitions: list[tuple[int, int, str]], index: int) -> int:
    depth = 0
    while (index := definitions[index][1]) >= 0:
        depth += 1
    return depth
