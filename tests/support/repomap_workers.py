"""Control over the repo map's worker processes in tests: use them for a few files, and make
them slower than any deadline, so that what a time box cuts is known."""

import threading
from collections.abc import Callable

from minion.context import repomap


def use_workers(monkeypatch) -> None:
    """Parse in three worker processes from two files on."""
    monkeypatch.setattr(repomap, "_PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(repomap.os, "cpu_count", lambda: 3)


def hold_back_workers(monkeypatch, first: str | None = None,
                      on_release: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] = lambda entries: entries,
                      ) -> threading.Event:
    """Workers that send nothing until the event returned is set, except the file ``first``
    (the one that parses it sends it right away). ``on_release`` may change a worker's
    entries (path, blob id) past ``first`` before they go to the real worker."""
    release = threading.Event()
    real = repomap._extract_in_worker

    def held_back(root, entries, from_tree, nice):
        if entries[0][0] == first:
            yield from real(root, entries[:1], from_tree, nice)
            entries = entries[1:]
        release.wait()
        if entries:
            yield from real(root, on_release(entries), from_tree, nice)

    monkeypatch.setattr(repomap, "_extract_in_worker", held_back)
    return release
