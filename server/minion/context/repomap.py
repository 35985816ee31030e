"""The ranked repo map: the repository's most relevant definitions within a token budget.

The approach is aider's. Files use names (calls, types, identifiers) that other files
define; a personalised PageRank over that graph, restarting mostly at the task's files,
ranks the files, and each file's rank flows through the names it uses to their
definitions. The best definitions are rendered with their signatures, grouped per file,
as many as fit the budget.

Parsing is the cost, so each file's definitions and reference counts are cached by
content (git blob id): a repo is parsed once, then only the files that changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ..git import git
from .languages import language_for
from .symbols import Symbol, analyze

DEFAULT_BUDGET_TOKENS = 2048
DEFAULT_MAX_FILE_BYTES = 512 * 1024
# Bump when extraction changes: old cache entries are then never read again.
_EXTRACTOR_VERSION = 3

_MINIFIED_NAMES = re.compile(r"[.-]min\.(js|mjs|cjs|css)$|\.bundle\.js$")
_GENERATED_MARKERS = re.compile(rb"Code generated .{0,200}DO NOT EDIT|@generated")
_GENERATED_HEAD_BYTES = 2048  # markers count only in a file's header
_MAX_AVERAGE_LINE = 1000  # longer on average: minified or data, not code
# Parsing in worker processes pays off from this many files (one costs ~0.2 s to start).
_PARALLEL_MIN_FILES = 200
_MAX_WORKERS = 8
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


@dataclass(frozen=True)
class _Definition:
    name: str
    kind: str
    line: int  # 1-based
    parent: int  # index of the enclosing definition in the file's list, -1 at top level
    signature: str


@dataclass
class _FileTags:
    definitions: list[_Definition]
    references: dict[str, tuple[int, int]]  # name -> (uses, mentions), see symbols.analyze


class RepoMapCache:
    """Extracted tags (as JSON) per (blob id, language), in SQLite at ``path`` (in memory if None).

    ``parsed`` counts the files this cache had to parse, so callers (and tests) can see
    that unchanged files are never parsed twice.
    """

    def __init__(self, path: str | PathLike[str] | None = None):
        self.path = Path(path) if path is not None else None
        self.parsed = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found = {}
        with self._lock:
            db = self._connect()
            for chunk in range(0, len(keys), 500):  # SQLite's bound-variable limit
                part = keys[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, data FROM tags WHERE key IN ({marks})", part))
        return found

    def put_many(self, entries: dict[str, str]) -> None:
        with self._lock:
            db = self._connect()
            with db:
                db.executemany("INSERT OR REPLACE INTO tags (key, data) VALUES (?, ?)", entries.items())

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
            self._db.execute("PRAGMA journal_mode=WAL")  # concurrent runs read while one writes
            self._db.execute("CREATE TABLE IF NOT EXISTS tags (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
        return self._db


def build_repo_map(
    repo_root: Path,
    *,
    focus_files: list[str | PathLike[str]] = (),
    focus_idents: list[str] = (),
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    cache: RepoMapCache | str | PathLike[str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> str:
    """The map of ``repo_root``'s tracked files, at most ``budget_tokens`` (chars / 4).

    ``focus_files`` (the anchor file, files the task names; absolute or repo-relative)
    and files whose stem is one of ``focus_idents`` get most of the PageRank teleport
    mass; definitions named in ``focus_idents`` are boosted. ``cache`` is a
    RepoMapCache or the path of its SQLite file. The output is deterministic.
    """
    root = Path(repo_root)
    if not isinstance(cache, RepoMapCache):
        cache = RepoMapCache(cache)
    files = _load_tags(root, cache, max_file_bytes)
    idents = set(focus_idents)
    focus = {repo_relative(root, f) for f in focus_files}
    focus |= {path for path in files if Path(path).stem in idents}
    ranked = _rank_definitions(files, focus & files.keys(), idents)
    return _fit(ranked, files, budget_tokens)


# Which files, and their tags


def _load_tags(root: Path, cache: RepoMapCache, max_file_bytes: int) -> dict[str, _FileTags]:
    """Tags of every mappable tracked file, parsing only what the cache lacks."""
    keys = {}
    for path, blob in _tracked_blobs(root).items():
        spec = language_for(path)
        if spec is None or _MINIFIED_NAMES.search(path) or _size(root / path) > max_file_bytes:
            continue
        keys[path] = f"{_EXTRACTOR_VERSION}:{spec.name}:{blob}"
    stored = cache.get_many(sorted(set(keys.values())))
    missing = {key: path for path, key in keys.items() if key not in stored}
    if missing:
        fresh = dict(zip(missing, _extract_many([root / path for path in missing.values()])))
        cache.parsed += len(fresh)
        cache.put_many(fresh)
        stored.update(fresh)
    tags = {path: _decode_tags(stored[key]) for path, key in sorted(keys.items())}
    return {path: t for path, t in tags.items() if t is not None}


def _size(path: Path) -> float:
    """A regular file's size; infinite (never mapped) for anything else, symlinks included:
    a hostile repo could link `x.py` to a secret outside it, or make it a FIFO."""
    try:
        info = path.lstat()
    except OSError:
        return math.inf
    return info.st_size if stat.S_ISREG(info.st_mode) else math.inf


def _extract_many(paths: list[Path]) -> list[str]:
    """Encoded tags of each file; a cold start on a big repo parses on every core.

    The workers are plain `python -c` processes (tree-sitter holds the GIL while it
    parses), not multiprocessing's: its spawn mode re-imports the caller's __main__.
    """
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    if len(paths) < _PARALLEL_MIN_FILES or workers < 2:
        return [_extract(path) for path in paths]
    shares = [paths[i::workers] for i in range(workers)]  # round robin: even sizes
    with ThreadPoolExecutor(workers) as threads:
        outputs = list(threads.map(_extract_in_worker, shares))
    return [outputs[i % workers][i // workers] for i in range(len(paths))]


def _extract_in_worker(paths: list[Path]) -> list[str]:
    code = f"import sys; sys.path.insert(0, {_IMPORT_ROOT!r}); import {__name__} as m; m.serve_extract()"
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=b"\0".join(os.fsencode(path) for path in paths),
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"repo map worker failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().split("\n")[:-1]


def serve_extract() -> None:
    """A worker's main: NUL-separated paths on stdin, one line of encoded tags each on stdout."""
    for raw in sys.stdin.buffer.read().split(b"\0"):
        sys.stdout.buffer.write(_extract(Path(os.fsdecode(raw))).encode() + b"\n")


def _tracked_blobs(root: Path) -> dict[str, str]:
    """Tracked regular files -> content id: the index's blob id, or a hash of a modified file."""
    blobs = {}
    for entry in git("ls-files", "-s", "-z", cwd=root).split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, blob, _stage = meta.split()
        if mode in ("100644", "100755"):
            blobs[path] = blob
    for path in git("diff-files", "-z", "--name-only", cwd=root).split("\0"):
        if path in blobs:
            blobs[path] = _hash_file(root / path)
    return {path: blob for path, blob in blobs.items() if blob}


def _hash_file(path: Path) -> str:
    """Git's blob id of a regular file on disk ('' when it is gone or is something else)."""
    if _size(path) == math.inf:
        return ""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _extract(path: Path) -> str:
    """One file's tags, encoded; "null" when it is binary, generated or minified (never mapped)."""
    try:
        data = path.read_bytes()
    except OSError:
        return _encode_tags(None)
    if b"\0" in data[:8192] or _GENERATED_MARKERS.search(data[:_GENERATED_HEAD_BYTES]):
        return _encode_tags(None)
    if len(data) / (data.count(b"\n") + 1) > _MAX_AVERAGE_LINE:
        return _encode_tags(None)
    symbols, references = analyze(language_for(path), data)
    return _encode_tags(_FileTags(_api(symbols), references))


def _api(symbols: list[Symbol], parent: int = -1, into: list[_Definition] | None = None) -> list[_Definition]:
    """The definitions other files can reach: not the ones local to a function body."""
    into = [] if into is None else into
    for symbol in symbols:
        into.append(_Definition(symbol.name, symbol.kind, symbol.line, parent, symbol.signature))
        if symbol.kind not in ("function", "method"):
            _api(symbol.children, len(into) - 1, into)
    return into


def _encode_tags(tags: _FileTags | None) -> str:
    if tags is None:
        return "null"
    rows = [[d.name, d.kind, d.line, d.parent, d.signature] for d in tags.definitions]
    return json.dumps({"d": rows, "r": tags.references}, ensure_ascii=False, separators=(",", ":"))


def _decode_tags(data: str) -> _FileTags | None:
    raw = json.loads(data)
    if raw is None:
        return None
    return _FileTags([_Definition(*row) for row in raw["d"]], raw["r"])


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
    files: dict[str, _FileTags], focus: set[str], idents: set[str]
) -> list[tuple[float, str, int]]:
    """(score, path, definition index), best first, ties broken by path and line.

    A definition scores the rank that flows to its name (split among the files defining
    it), plus an even share of its file's own teleport mass so that definitions nobody
    uses still place, below the used ones; names the task mentions count ten times.
    """
    graph = _Graph(files, idents)
    teleport = _teleport(graph.paths, focus)
    inflow = graph.name_inflow(_pagerank(graph, teleport))
    flowed = {name: inflow[i] / len(graph.definers[i]) for i, name in enumerate(graph.names)}
    ranked = []
    for node, (path, tags) in enumerate(files.items()):
        own = (1 - _DAMPING) * teleport[node] / max(1, len(tags.definitions))
        for index, d in enumerate(tags.definitions):
            score = flowed.get(d.name, 0.0) + own
            ranked.append((score * (_FOCUS_BOOST if d.name in idents else 1.0), path, index))
    ranked.sort(key=lambda r: (-r[0], r[1], files[r[1]].definitions[r[2]].line))
    return ranked


class _Graph:
    """Files and the names they use, as integer-indexed lists (the ranking's hot loops).

    The edges go from a file to a name it uses and on to the name's definers, split
    evenly: a use of `get` does not say which of twenty `get`s it means. Keeping the
    names between files keeps the graph linear in size (uses + definitions) rather than
    uses x definers, which is what makes ranking a large repo fast.
    """

    def __init__(self, files: dict[str, _FileTags], idents: set[str]):
        self.paths = list(files)
        defined = _defined_by(files)
        self.names = sorted({n for tags in files.values() for n in tags.references} & defined.keys())
        self.definers = [defined[name] for name in self.names]
        referrers = Counter(name for tags in files.values() for name in tags.references)
        weight = {
            name: _name_weight(name, len(defined[name]), referrers[name] / len(files), idents)
            for name in self.names
        }
        name_of = {name: i for i, name in enumerate(self.names)}
        # Per file: (name index, share of the file's out-weight), shares summing to 1.
        self.uses: list[list[tuple[int, float]]] = []
        for tags in files.values():
            # A file's uses of names it defines itself are no edges: they most likely
            # mean its own, and the map is about what the other files offer.
            own = {d.name for d in tags.definitions}
            weights = [
                (name_of[name], weight[name] * math.sqrt(uses + _MENTION_WEIGHT * mentions))
                for name, (uses, mentions) in tags.references.items()
                if name in weight and name not in own
            ]
            total = sum(w for _, w in weights)
            self.uses.append([(i, w / total) for i, w in weights] if total else [])

    def name_inflow(self, rank: list[float]) -> list[float]:
        """How much rank flows into each name from the files that use it."""
        inflow = [0.0] * len(self.names)
        for node, used in enumerate(self.uses):
            flow = _DAMPING * rank[node]
            for name, share in used:
                inflow[name] += flow * share
        return inflow


def _defined_by(files: dict[str, _FileTags]) -> dict[str, list[int]]:
    """name -> the files (node numbers) defining it."""
    defined: dict[str, list[int]] = defaultdict(list)
    for node, tags in enumerate(files.values()):
        # An impl block extends a type defined elsewhere; it does not define it.
        for name in sorted({d.name for d in tags.definitions if d.kind != "impl"}):
            defined[name].append(node)
    return defined


def _name_weight(name: str, n_definers: int, referred_share: float, idents: set[str]) -> float:
    weight = _FOCUS_BOOST if name in idents else 1.0
    if name.startswith("_"):
        weight *= _PRIVATE_DAMPING
    elif len(name) >= 8 and ("_" in name or name != name.lower()):
        weight *= _SPECIFIC_BOOST
    if n_definers > _COMMON_DEFINERS:
        weight *= _COMMON_DAMPING
    return weight * math.log(1 + _IDF_SCALE / referred_share)


def _teleport(paths: list[str], focus: set[str]) -> list[float]:
    """Where a random walk restarts: mostly at the focus files, else anywhere."""
    uniform = 1.0 / len(paths) if paths else 0.0
    if not focus:
        return [uniform] * len(paths)
    focused = _FOCUS_SHARE / len(focus)
    return [(1 - _FOCUS_SHARE) * uniform + (focused if p in focus else 0.0) for p in paths]


def _pagerank(graph: _Graph, teleport: list[float]) -> list[float]:
    """Personalised PageRank by power iteration; files that use no name restart by ``teleport``."""
    rank = list(teleport)
    dangling_nodes = [node for node, used in enumerate(graph.uses) if not used]
    for _ in range(_MAX_ITERATIONS):
        restart = (1 - _DAMPING) + _DAMPING * sum(rank[node] for node in dangling_nodes)
        new = [restart * t for t in teleport]
        for amount, targets in zip(graph.name_inflow(rank), graph.definers):
            share = amount / len(targets)
            for node in targets:
                new[node] += share
        delta = sum(abs(a - b) for a, b in zip(new, rank))
        rank = new
        if delta < _TOLERANCE:
            break
    return rank


# Rendering


def _fit(ranked: list[tuple[float, str, int]], files: dict[str, _FileTags], budget_tokens: int) -> str:
    """The longest prefix of ``ranked`` whose rendering fits the budget (binary search)."""
    budget_chars = budget_tokens * 4
    # A rendered definition takes 4 characters at the very least ("1 x\n").
    low, high = 0, min(len(ranked), budget_chars // 4)
    best = ""
    while low < high:
        middle = (low + high + 1) // 2
        text = _render(ranked[:middle], files)
        if len(text) <= budget_chars:
            low, best = middle, text
        else:
            high = middle - 1
    return best


def _render(chosen: list[tuple[float, str, int]], files: dict[str, _FileTags]) -> str:
    """Chosen definitions (with their enclosing ones, for context) grouped per file.

    Files come in the order of their best definition; definitions in line order.
    """
    per_file: dict[str, set[int]] = {}
    for _, path, index in chosen:
        shown = per_file.setdefault(path, set())
        definitions = files[path].definitions
        while index >= 0 and index not in shown:
            shown.add(index)
            index = definitions[index].parent
    blocks = []
    for path, shown in per_file.items():
        definitions = files[path].definitions
        rows = []
        for index in sorted(shown):
            d = definitions[index]
            rows.append((d.line, _depth(definitions, index), d.signature))
        width = len(str(rows[-1][0]))
        lines = [f"{line:>{width}} {'  ' * depth}{sig}" for line, depth, sig in rows]
        blocks.append(path + ":\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _depth(definitions: list[_Definition], index: int) -> int:
    depth = 0
    while (index := definitions[index].parent) >= 0:
        depth += 1
    return depth
