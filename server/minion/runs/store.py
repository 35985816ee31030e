"""The run store: one SQLite row per run and per node, shared by the CLI, the server and workers.

SQLite runs in WAL mode with a busy timeout so that many workers can write at once.
Everything stored is redacted first.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..agent.usage import Usage
from ..config import Settings
from ..context import Anchor
from ..errors import RunNotFound, StateUnwritable
from ..redact import redact
from ..state import state_dir
from .model import CheckResult, FlaggedFile, FleetPlace, NodeRecord, RunRecord, Status

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    repo TEXT NOT NULL,
    task TEXT NOT NULL,
    blueprint TEXT NOT NULL,
    model TEXT NOT NULL,
    branch TEXT,
    base TEXT,
    snapshot TEXT,
    head TEXT,
    worktree TEXT,
    request TEXT NOT NULL DEFAULT '{}',
    checks TEXT NOT NULL DEFAULT '[]',
    files TEXT NOT NULL DEFAULT '[]',
    usage TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '',
    error TEXT,
    worker_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    refused TEXT NOT NULL DEFAULT '[]',
    sensitive TEXT NOT NULL DEFAULT '[]',
    fleet TEXT
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    summary TEXT NOT NULL DEFAULT '',
    result TEXT,
    usage TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at);
"""

# The record's fields kept as JSON: whole columns, and the parts of the `request` column
# (what the run was asked for) and of `usage`.
JSON_COLUMNS = {"request", "checks", "files", "usage", "result", "refused", "sensitive", "fleet"}
_REQUEST_PARTS = ("settings", "anchor", "base_head", "git_common_dir", "revises", "earlier")
# Columns added after the first release: (name, definition), added to older stores on open.
ADDED_COLUMNS = [("refused", "TEXT NOT NULL DEFAULT '[]'"), ("sensitive", "TEXT NOT NULL DEFAULT '[]'"),
                 ("fleet", "TEXT")]
# SQLite result codes (prefixes of their names) that mean the disk, not minion, is at fault.
_STORAGE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")

# Free text that may quote a secret. Identifiers (paths, branch, commits, the request's
# settings) are stored as they are: masking a part of them would break the run.
REDACTED_FIELDS = {"task", "summary", "error", "checks", "result", "anchor", "earlier"}


def _plain(value: Any) -> Any:
    """A field's value as JSON has it."""
    if isinstance(value, Settings):
        return value.model_dump()
    if isinstance(value, Usage):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _stored(name: str, value: Any) -> Any:
    """A field's value as the store keeps it: plain JSON types, redacted where it is free text."""
    value = _plain(value)
    return redact(value) if name in REDACTED_FIELDS else value


def _sql(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS:
        return json.dumps(value)
    return int(value) if isinstance(value, bool) else value


def _assignments(fields: dict[str, Any]) -> tuple[str, tuple]:
    """SQL assignments and their parameters that store a RunRecord's ``fields``. A field
    kept inside a JSON column updates its part of it, so the rest stays as it was."""
    expressions: dict[str, str] = {}  # column -> its new value, in terms of the old
    params: dict[str, list[Any]] = {}
    for name, value in fields.items():
        value = _stored(name, value)
        if name in _REQUEST_PARTS:
            column, update, param = "request", f"json_set(%s, '$.{name}', json(?))", json.dumps(value)
        elif name == "turns":
            column, update, param = "usage", "json_set(%s, '$.turns', ?)", value
        elif name == "usage":
            column, update, param = "usage", "json_patch(%s, ?)", json.dumps(value)
        else:
            column, update, param = name, "?", _sql(name, value)
        expressions[column] = update % expressions.get(column, column) if "%s" in update else update
        params.setdefault(column, []).append(param)
    sql = ", ".join(f"{column} = {expression}" for column, expression in expressions.items())
    return sql, tuple(param for column in expressions for param in params[column])


def _row(record: RunRecord) -> dict[str, Any]:
    """The record as the columns of its row."""
    row: dict[str, Any] = {"request": {}}
    for f in dataclasses.fields(record):
        value = _stored(f.name, getattr(record, f.name))
        if f.name in _REQUEST_PARTS:
            row["request"][f.name] = value
        elif f.name != "turns":
            row[f.name] = value
    row["usage"]["turns"] = record.turns
    return {column: _sql(column, value) for column, value in row.items()}


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    return {key: json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
            for key in row.keys()}


def _record(row: sqlite3.Row) -> RunRecord:
    data = _decoded(row)
    request, usage = data.pop("request"), data.pop("usage")
    data.update(
        status=Status(data["status"]),
        cancel_requested=bool(data["cancel_requested"]),
        settings=_stored_settings(request.get("settings", {})),
        anchor=Anchor(**request["anchor"]) if request.get("anchor") else None,
        base_head=request.get("base_head"),
        git_common_dir=request.get("git_common_dir", ""),
        revises=request.get("revises"),
        earlier=request.get("earlier", ""),
        checks=[CheckResult.from_dict(c) for c in data["checks"]],
        usage=Usage.from_dict(usage),
        turns=usage.get("turns", 0),
        refused=[FlaggedFile(**r) for r in data["refused"]],
        sensitive=[FlaggedFile(**s) for s in data["sensitive"]],
        fleet=FleetPlace(**data["fleet"]) if data.get("fleet") else None,
    )
    return RunRecord(**data)


def _stored_settings(stored: dict[str, Any]) -> Settings:
    """The settings a run was created with, as this version reads them: a setting it no
    longer knows, or a value it no longer takes, falls back to its default."""
    known = {name: value for name, value in stored.items() if name in Settings.model_fields}
    try:
        return Settings(**known)
    except ValidationError as e:
        wrong = {error["loc"][0] for error in e.errors() if error["loc"]}
        return Settings(**{name: value for name, value in known.items() if name not in wrong})


# Kept beside the store and given up when its disk fills, so a run can always record its
# end: bytes for the pages, and one file each for the inodes of SQLite's -wal and -shm.
RESERVE_FILES, RESERVE_BYTES = 2, 2 * 1024 * 1024


class RunStore:
    def __init__(self, path: Path | None = None):
        self.path = path or state_dir() / "runs.db"
        with closing(self._connect()) as db, self._storage_errors():
            db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            for name, definition in ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {definition}")
        self._keep_reserve()

    def _reserve(self) -> list[Path]:
        return [self.path.with_name(f"{self.path.name}.reserve-{i}") for i in range(RESERVE_FILES)]

    def _keep_reserve(self) -> None:
        """Make the reserve if it is missing and there is room; never an error."""
        for path in self._reserve():
            if path.exists():
                continue
            try:
                with path.open("xb") as f:
                    f.write(bytes(RESERVE_BYTES))
            except OSError:
                path.unlink(missing_ok=True)
                return

    def _give_up_reserve(self) -> bool:
        """Free the reserve for a write the full disk refused; whether there was any."""
        freed = False
        for path in self._reserve():
            if path.exists():
                path.unlink()
                freed = True
        return freed

    def _connect(self) -> sqlite3.Connection:
        with self._storage_errors():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
        return db

    def _execute(self, sql: str, params: tuple = (), *, reserve: bool = False) -> list[sqlite3.Row]:
        """Run one statement; with ``reserve``, a full disk gives up the reserve and retries."""
        try:
            with closing(self._connect()) as db, self._storage_errors():
                return db.execute(sql, params).fetchall()
        except StateUnwritable:
            if not (reserve and self._give_up_reserve()):
                raise
            return self._execute(sql, params)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """A full disk or a broken state dir is the user's to fix, not a bug: say so. SQLite
        rolls the statement back, so the store stays as it was."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if not (e.sqlite_errorname or "").startswith(_STORAGE_ERRORS):
                raise
            raise StateUnwritable(
                f"the run store {self.path} cannot be written ({e}): free space on its disk, or set "
                "MINION_STATE_DIR to another folder") from None

    # runs

    def create(self, record: RunRecord) -> None:
        values = _row(record)
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", tuple(values.values()))

    def update(self, run_id: str, **fields: Any) -> None:
        self._update(run_id, fields, reserve=False)

    def finish(self, run_id: str, **fields: Any) -> None:
        """Record how a run ended; on a full disk the reserve makes room for it."""
        self._update(run_id, fields, reserve=True)

    def _update(self, run_id: str, fields: dict[str, Any], *, reserve: bool) -> None:
        assignments, params = _assignments({**fields, "updated_at": time.time()})
        self._execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*params, run_id), reserve=reserve)

    def claim(self, run_id: str, expected: Status, **fields: Any) -> bool:
        """Update the run only if its status is still ``expected`` (one winner among racers)."""
        assignments, params = _assignments({**fields, "updated_at": time.time()})
        with closing(self._connect()) as db:
            cursor = db.execute(f"UPDATE runs SET {assignments} WHERE id = ? AND status = ?",
                                (*params, run_id, expected.value))
            return cursor.rowcount == 1

    def get(self, run_id: str) -> RunRecord:
        rows = self._execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            matches = self._execute("SELECT * FROM runs WHERE substr(id, 1, ?) = ? AND ? != ''",
                                    (len(run_id), run_id, run_id))
            if len(matches) != 1:
                raise RunNotFound(f"no run with id '{run_id}' (see `minion list`)")
            rows = matches
        return _record(rows[0])

    def recent(self, *, limit: int = 50, repo: Path | str | None = None) -> list[RunRecord]:
        """The newest runs first, in one query; with ``repo``, only the runs of that
        repository (its root, resolved, as `RunRecord.repo` holds it)."""
        if repo is None:
            rows = self._execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))
        else:
            rows = self._execute("SELECT * FROM runs WHERE repo = ? ORDER BY created_at DESC LIMIT ?",
                                 (str(Path(repo).resolve()), limit))
        return [_record(row) for row in rows]

    def rounds(self, record: RunRecord) -> list[RunRecord]:
        """Every run on ``record``'s branch in its repository (the rounds of a revised run),
        oldest first; just ``record`` when it has no branch."""
        if not record.branch:
            return [record]
        rows = self._execute("SELECT * FROM runs WHERE repo = ? AND branch = ? ORDER BY created_at",
                             (record.repo, record.branch))
        return [_record(row) for row in rows] or [record]

    def request_cancel(self, run_id: str) -> None:
        self.update(run_id, cancel_requested=True)

    def cancel_requested(self, run_id: str) -> bool:
        rows = self._execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        return bool(rows and rows[0]["cancel_requested"])

    # nodes

    def start_node(self, node: NodeRecord) -> None:
        self._execute(
            "INSERT OR REPLACE INTO nodes (run_id, seq, name, kind, status, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (node.run_id, node.seq, node.name, node.kind, node.status, node.started_at),
        )

    def finish_node(self, node: NodeRecord) -> None:
        self._execute(
            "UPDATE nodes SET status = ?, ended_at = ?, summary = ?, result = ?, usage = ?"
            " WHERE run_id = ? AND seq = ?",
            (
                node.status,
                node.ended_at,
                redact(node.summary),
                json.dumps(redact(node.result)),
                json.dumps(node.usage.to_dict()),
                node.run_id,
                node.seq,
            ),
        )

    def delete_nodes_from(self, run_id: str, seq: int) -> None:
        self._execute("DELETE FROM nodes WHERE run_id = ? AND seq >= ?", (run_id, seq))

    def nodes(self, run_id: str) -> list[NodeRecord]:
        rows = self._execute("SELECT * FROM nodes WHERE run_id = ? ORDER BY seq", (run_id,))
        return [NodeRecord(**{**data, "usage": Usage.from_dict(data["usage"])})
                for data in map(_decoded, rows)]
