"""Which repo blueprint files the user has allowed to run: trusted by content, not by presence.

A repository's ``.minion/blueprints/*.py`` is Python that minion imports on the host, as the
user, outside the sandbox. A branch an agent wrote, a merged pull request or a freshly cloned
repo can add or change such a file, so a file runs only once the user has trusted its exact
bytes with ``minion trust`` (like ``direnv allow``). The record lives in the user's state
dir (``trust.json``, mode 0600): for each file's resolved path, the sha256 of the bytes that
were trusted. Any change to a file, by one byte, makes it untrusted again. minion's built-in
blueprints ship with minion and need no trust. The repository's ``.mcp.json`` starts
programs too, and is trusted the same way, by the same ``minion trust``.

Files are read only as regular files inside the repository: a symlink to somewhere outside
it, a FIFO (opening one would hang), a device or a folder named ``*.py`` is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import pathguard
from .errors import MinionError, StateUnwritable, UntrustedBlueprint
from .state import state_dir

TRUST_FILE = "trust.json"
MCP_FILE = ".mcp.json"  # the repo's MCP servers (mcp_servers/config.py)
FORMAT_VERSION = 1
MAX_BLUEPRINT_BYTES = 4 * 1024 * 1024  # a blueprint is a page of Python, not a data file


@dataclass(frozen=True)
class BlueprintFile:
    """One repo blueprint file as read now: its resolved path, exact bytes and their sha256."""

    path: Path
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def short(self) -> str:
        return self.sha256[:12]


def repo_blueprint_dir(repo_root: Path) -> Path:
    return Path(repo_root) / ".minion" / "blueprints"


def trust_file() -> Path:
    return state_dir() / TRUST_FILE


# --- reading blueprint files safely -------------------------------------------------------


def read_regular(path: Path, inside: Path) -> BlueprintFile:
    """Read ``path`` if it is a regular file whose real location is inside ``inside``
    (through `pathguard`: no link out, no FIFO to hang on, a size cap).

    Raises MinionError for a symlink out of ``inside``, a FIFO, socket, device or folder, a
    file too large to be a blueprint, or one that cannot be read.
    """
    try:
        real, data = pathguard.read_file(Path(inside), path, max_bytes=MAX_BLUEPRINT_BYTES)
    except pathguard.PathEscapes:
        raise MinionError(f"blueprint file {path} leads outside the repository {inside}: "
                          "minion only runs blueprint files that are in the repository") from None
    except pathguard.TooLarge:
        raise MinionError(f"blueprint file {path} is over {MAX_BLUEPRINT_BYTES} bytes: too large for a blueprint"
                          ) from None
    except pathguard.NotAFile as e:
        if e.what is None:
            raise MinionError(f"blueprint file {path} cannot be read (missing, a broken link, or unreadable)") from None
        raise MinionError(f"blueprint file {path} is {e.what}, not a regular file: minion does not read it "
                          "(remove it from .minion/blueprints)") from None
    return BlueprintFile(real, data, hashlib.sha256(data).hexdigest())


def repo_blueprint_files(repo_root: Path) -> list[BlueprintFile]:
    """The repo's ``.minion/blueprints/*.py`` as read now, sorted by name (raises for an unsafe one)."""
    root = Path(repo_root).resolve()
    folder = repo_blueprint_dir(root)
    if not folder.is_dir():
        return []
    return [read_regular(p, root) for p in sorted(folder.glob("*.py"))]


def repo_mcp_file(repo_root: Path) -> tuple[BlueprintFile, bool] | None:
    """The repo's ``.mcp.json`` as read now and whether its bytes are trusted (it starts
    programs, as a blueprint does); None when there is none."""
    root = Path(repo_root).resolve()
    path = root / MCP_FILE
    if not path.exists() and not path.is_symlink():
        return None
    file = read_regular(path, root)
    return file, _load_record().get(str(file.path), {}).get("sha256") == file.sha256


def _trusted_kinds(root: Path) -> list[BlueprintFile]:
    """Every file of the repo that runs only once trusted: its blueprints and its `.mcp.json`."""
    mcp = repo_mcp_file(root)
    return repo_blueprint_files(root) + ([mcp[0]] if mcp else [])


# --- the trust record ---------------------------------------------------------------------


def _load_record() -> dict[str, dict]:
    path = trust_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise MinionError(f"the trust record {path} cannot be read: {e.strerror}") from None
    try:
        data = json.loads(raw)
        files = data["files"]
        if data.get("version") != FORMAT_VERSION or not isinstance(files, dict):
            raise ValueError(f"unknown format version {data.get('version')!r}")
        return {str(k): dict(v) for k, v in files.items() if isinstance(v, dict) and isinstance(v.get("sha256"), str)}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        # Fail closed: nothing is trusted from a record minion cannot read.
        raise MinionError(f"the trust record {path} is damaged ({e}); remove it and run `minion trust` "
                          "again in each repository whose blueprints you trust") from None


def _save_record(files: dict[str, dict]) -> None:
    """Replace the record atomically: a reader sees the old file or the new one, never half."""
    path = trust_file()
    body = json.dumps({"version": FORMAT_VERSION, "files": files}, indent=2, sort_keys=True).encode() + b"\n"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".trust-", suffix=".tmp", dir=path.parent)  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        tmp = None
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as e:
        raise StateUnwritable(f"cannot write the trust record {path}: {e.strerror}; nothing was changed") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise read-modify-write of the record between minion processes."""
    lock_path = state_dir() / "trust.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        raise StateUnwritable(f"cannot write {lock_path}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- the API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    path: Path
    sha256: str | None  # None: the file is gone (only its record is left)
    size: int | None
    trusted: bool
    trusted_sha256: str | None  # what the record holds, if anything


def untrusted(repo_root: Path) -> list[tuple[Path, str]]:
    """The repo's blueprint files whose current bytes are not trusted, as (path, sha256)."""
    files = repo_blueprint_files(repo_root)
    if not files:
        return []
    record = _load_record()
    return [(f.path, f.sha256) for f in files if record.get(str(f.path), {}).get("sha256") != f.sha256]


def verified_files(repo_root: Path) -> list[BlueprintFile]:
    """The repo's blueprint files, each read once, all trusted: the bytes to parse or run.

    Raises UntrustedBlueprint naming every untrusted file and the command that trusts them.
    Callers must use the returned bytes, not read the file again: a file changed after this
    check would otherwise run unchecked.
    """
    files = repo_blueprint_files(repo_root)
    if not files:
        return []
    record = _load_record()
    bad = [f for f in files if record.get(str(f.path), {}).get("sha256") != f.sha256]
    if bad:
        raise UntrustedBlueprint(_untrusted_message(Path(repo_root).resolve(), bad, record))
    return files


def check_trusted(repo_root: Path) -> None:
    """Raise UntrustedBlueprint (exit code 2) if any of the repo's blueprint files is untrusted."""
    verified_files(repo_root)


def _untrusted_message(root: Path, bad: list[BlueprintFile], record: dict[str, dict]) -> str:
    lines = [f"the repository {root} has blueprint files you have not trusted; minion runs them as you, "
             "outside the sandbox, so it runs nothing of this repository until you trust them:"]
    for f in bad:
        why = "changed since you trusted it" if str(f.path) in record else "never trusted"
        lines.append(f"  {f.path} (sha256 {f.short}…, {f.size} bytes, {why})")
    lines.append(f"read them, then run: minion trust --repo {_quote(root)}")
    return "\n".join(lines)


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def trust_repo(repo_root: Path) -> list[BlueprintFile]:
    """Trust the repo's blueprint files (and its `.mcp.json`) exactly as they are now; returns them.

    All or nothing: an unsafe file (a FIFO, a symlink out of the repo) raises and nothing is
    trusted. Records of this repo's blueprint files that are gone are dropped.
    """
    root = Path(repo_root).resolve()
    files = _trusted_kinds(root)
    with _locked():
        record = {k: v for k, v in _load_record().items() if not _of_repo(k, v, root)}
        now = time.time()
        for f in files:
            record[str(f.path)] = {"sha256": f.sha256, "size": f.size, "trusted_at": now, "repo": str(root)}
        _save_record(record)
    return files


def _of_repo(key: str, entry: dict, root: Path) -> bool:
    """Whether a record entry belongs to this repo's blueprints (a file in its blueprint
    folder, or one a symlink there pointed to elsewhere in the repo)."""
    return entry.get("repo") == str(root) or key.startswith(str(repo_blueprint_dir(root)) + os.sep)


def revoke_repo(repo_root: Path) -> list[Path]:
    """Forget every trusted file of the repo's blueprint folder; returns their paths."""
    root = Path(repo_root).resolve()
    with _locked():
        record = _load_record()
        gone = sorted(k for k, v in record.items() if _of_repo(k, v, root))
        if gone:
            _save_record({k: v for k, v in record.items() if not _of_repo(k, v, root)})
    return [Path(k) for k in gone]


def repo_state(repo_root: Path) -> list[FileState]:
    """Each blueprint file of the repo (and its `.mcp.json`) with whether its current bytes are trusted, then the
    records of files that are gone."""
    root = Path(repo_root).resolve()
    files = _trusted_kinds(root)
    record = _load_record()
    states = []
    for f in files:
        held = record.get(str(f.path), {}).get("sha256")
        states.append(FileState(f.path, f.sha256, f.size, held == f.sha256, held))
    present = {str(f.path) for f in files}
    for k in sorted(record):
        if _of_repo(k, record[k], root) and k not in present:
            states.append(FileState(Path(k), None, None, False, record[k]["sha256"]))
    return states
