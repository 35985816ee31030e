"""The one guard for host-side reads and writes of paths in a run's worktree.

The agent controls the worktree: any folder in it may be a symlink to the user's home or
to the user's real repo, any file a FIFO or a device. Host code (the editor, search and
outline tools, rule files, the anchor) reaches a worktree path only through this module:

- ``resolve`` maps the path (worktree-relative, or absolute under the worktree or under the
  user's repo path, which the agent sees in place of the worktree) to its full real path,
  every component resolved, and refuses it unless that lies inside the real worktree and
  outside ``.git``;
- ``read_bytes`` and ``write_bytes`` open that real path without following a last-component
  symlink (O_NOFOLLOW) and without blocking (O_NONBLOCK: a FIFO would hang the host), take
  regular files only, check again where the opened file really is, and cap reads.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import MinionError

MAX_FILE_BYTES = 5_000_000


class PathRefused(MinionError):
    """A worktree path the host will not read or write; the message says why."""


class PathEscapes(PathRefused):
    def __init__(self, given: str | os.PathLike[str]):
        super().__init__(f"path escapes the worktree: {given}")


class NotAFile(PathRefused):
    def __init__(self, given: str | os.PathLike[str], what: str | None = None):
        super().__init__(f"{given} does not exist or is not a file")
        self.what = what  # "a FIFO", "a folder" …, when the path exists


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return what
    return "not a regular file"


class TooLarge(PathRefused):
    def __init__(self, given: str | os.PathLike[str], max_bytes: int):
        super().__init__(f"{given} is over {max_bytes // 1_000_000} MB")


def resolve(worktree: Path, given: str | os.PathLike[str], repo_path: Path | None = None) -> Path:
    """The real path of ``given`` in ``worktree``; PathRefused unless it is inside and not in .git."""
    root = Path(os.path.realpath(worktree))
    path = Path(os.path.normpath(given))
    if path.is_absolute():
        for base in (Path(worktree), root, *([Path(repo_path)] if repo_path is not None else [])):
            if path.is_relative_to(base):
                path = path.relative_to(base)
                break
        else:
            raise PathEscapes(given)
    if path.parts[:1] == ("..",):
        raise PathEscapes(given)
    if path.parts[:1] == (".git",):
        raise PathRefused(f"{given}: the .git directory is off limits")
    real = Path(os.path.realpath(root / path))
    if not real.is_relative_to(root):
        raise PathEscapes(given)
    if real.relative_to(root).parts[:1] == (".git",):
        raise PathRefused(f"{given}: the .git directory is off limits")
    return real


def read_bytes(worktree: Path, given: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES,
               repo_path: Path | None = None) -> bytes:
    """The contents of a regular file inside ``worktree``, at most ``max_bytes`` (else TooLarge)."""
    return read_file(worktree, given, max_bytes=max_bytes, repo_path=repo_path)[1]


def read_file(worktree: Path, given: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES,
              repo_path: Path | None = None) -> tuple[Path, bytes]:
    """``read_bytes``, with the real path it read."""
    real = resolve(worktree, given, repo_path)
    fd = _open(real, given, os.O_RDONLY, worktree)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(fd).st_size > max_bytes:
            raise TooLarge(given, max_bytes)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(given, max_bytes)
    return real, data


def read_text(worktree: Path, given: str | os.PathLike[str], **kwargs) -> str:
    """``read_bytes`` decoded as UTF-8, bad bytes replaced."""
    return read_bytes(worktree, given, **kwargs).decode("utf-8", errors="replace")


def write_bytes(worktree: Path, given: str | os.PathLike[str], data: bytes, *, repo_path: Path | None = None,
                make_parents: bool = False) -> Path:
    """Write a regular file inside ``worktree`` (creating it, and its folders if asked); its real path."""
    real = resolve(worktree, given, repo_path)
    if make_parents:
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PathRefused(f"{given}: cannot create its folder: {e.strerror}") from None
        real = resolve(worktree, given, repo_path)  # the folders just made are checked too
    fd = _open(real, given, os.O_WRONLY | os.O_CREAT, worktree)
    with os.fdopen(fd, "wb") as f:
        os.ftruncate(fd, 0)  # only now: the file is known to be a regular one inside the tree
        f.write(data)
    return real


def _open(real: Path, given: str | os.PathLike[str], flags: int, worktree: Path) -> int:
    """An fd on ``real``, a regular file whose opened location is inside the real worktree."""
    try:
        fd = os.open(real, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError:  # missing, a symlink swapped in, a socket, unreadable ...
        try:
            what = _kind(os.lstat(real).st_mode)
        except OSError:
            what = None
        raise NotAFile(given, what) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotAFile(given, _kind(mode))
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the checks above stand
            opened = str(real)
        if not Path(opened).is_relative_to(os.path.realpath(worktree)):
            raise PathEscapes(given)
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise
