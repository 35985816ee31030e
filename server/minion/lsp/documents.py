"""Documents as files: the local file a document is, and a file's text on disk.

pygls's ``TextDocument.path`` is not to be trusted for other schemes: it makes
``untitled:Untitled-1`` a path relative to the server's folder. Only ``file:`` URIs are
files here; minion ignores the others.
"""

from __future__ import annotations

from pathlib import Path

from pygls.uris import to_fs_path


def file_path(uri: str) -> Path | None:
    """The local file a document is, or None (untitled buffers, other schemes)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


def read_text(path: Path) -> str | None:
    """A file's exact text on disk, line endings kept (None when there is no such file).
    Blocking: use a thread."""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
