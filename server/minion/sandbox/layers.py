"""The sandbox's writable places beyond the worktree and HOME, on the host side.

* **A run-private ``.cache`` in each ``node_modules``.** The user's dependency folders stay
  read-only, yet tools keep their caches in ``node_modules/.cache/<tool>`` (ava, babel,
  webpack, nyc: the find-cache-dir convention) and fail without it. Without overlayfs
  (bubblewrap 0.8 has none) a writable folder can only be bound onto a mount point that
  already exists, and the user's folder is never written, not even an empty ``.cache``;
  binding each entry of the folder is quadratic in bubblewrap (over a second per command
  for a thousand packages). So the folder is shown as a read-only folder of links, one per entry,
  into the user's folder itself (read-only at ``DEPS_MOUNT``), beside a real ``.cache``
  bound from the run's HOME: gone with the run.
* **The repository's tool caches**, one folder per repo in minion's state dir, shared by the
  repo's runs and kept across them, shown at ``TOOL_CACHE_MOUNT``.

Both are only ever mount sources as whole folders: what a sandboxed command writes inside
them is never followed by the host.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .policy import SandboxPolicy

DEPS_MOUNT = Path("/run/minion/deps")  # the user's node_modules folders, read-only, for their links
TOOL_CACHE_MOUNT = Path("/run/minion/cache")  # the repository's tool caches (read-write)

# The variables that send each tool's cache into the repository's tool caches: only caches
# keyed by content. Not CARGO_TARGET_DIR: cargo judges freshness by file times, and runs
# (and a run and its baseline) show different trees at the same path, so a shared target
# made a baseline run the agent's build and call its new failure an old one.
TOOL_CACHE_ENV = {
    "GOCACHE": "go-build",
    "PIP_CACHE_DIR": "pip",
    "npm_config_cache": "npm",
}

CACHE = ".cache"


@dataclass(frozen=True)
class Layer:
    """How one ``node_modules`` of the user's repo is shown, writable ``.cache`` and all."""

    folder: Path  # the user's folder, and where it appears inside
    lower: Path  # where the user's folder itself appears inside, read-only
    links: Path  # on the host: the folder of links shown at ``folder``
    cache: Path  # on the host: the run's ``.cache``, shown at ``folder / ".cache"``


def layers_of(policy: SandboxPolicy, folders: list[Path]) -> list[Layer]:
    """The layers of the dependency folders that tools write caches into; nested folders
    are shown through the outer one's links."""
    found: list[Layer] = []
    for folder in sorted(folders, key=lambda f: len(f.parts)):  # outer folders first
        if folder.name != "node_modules" or any(outer.folder in folder.parents for outer in found):
            continue
        rel = folder.relative_to(policy.repo_path)
        own = policy.layers / quote(str(rel), safe="")
        found.append(Layer(folder, DEPS_MOUNT / rel, own / "links", own / "cache"))
    return found


def prepare_layers(policy: SandboxPolicy, folders: list[Path]) -> None:
    """Make the run's layers (the links afresh: the user's folder may have changed since the
    run's last sandbox) and the repository's tool cache folder."""
    for layer in layers_of(policy, folders):
        for folder in (policy.layers, layer.cache.parent, layer.cache):
            _private_dir(folder)
        _private_dir(layer.links, fresh=True)
        _link_entries(layer.folder, layer.lower, layer.links, top_level=True)
        (layer.links / CACHE).mkdir()  # the mount point of the run's .cache
    _private_dir(policy.tool_cache.parent)
    _private_dir(policy.tool_cache)


def _link_entries(source: Path, lower: Path, into: Path, *, top_level: bool) -> None:
    """An entry in ``into`` for each of ``source``'s: a link to it through ``lower``, or, for
    a link, the same link (a relative one resolves as it does in the user's folder: npm
    workspaces link ``pkg -> ../packages/pkg``). npm scope folders (``@org``) get the same one
    level down, for their workspace links (``@org/pkg -> ../../packages/pkg``)."""
    with os.scandir(source) as entries:
        for entry in entries:
            if top_level and entry.name == CACHE:
                continue  # the run's own .cache takes its place
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), into / entry.name)
            elif top_level and entry.name.startswith("@") and entry.is_dir(follow_symlinks=False):
                (into / entry.name).mkdir()
                _link_entries(Path(entry.path), lower / entry.name, into / entry.name, top_level=False)
            else:
                os.symlink(lower / entry.name, into / entry.name)


def _private_dir(path: Path, *, fresh: bool = False) -> None:
    """A folder of minion's at ``path``, made 0700 (``fresh``: emptied); a link or file there
    is removed, never followed."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif fresh and path.is_dir():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, exist_ok=True)
