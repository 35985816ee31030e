"""The toolchain a run's checks need, found on this host rather than guessed.

The sandbox shows the system (``/usr`` …) and nothing of the user's home, so every
interpreter and build tool that lives elsewhere (pyenv, nvm, rustup, a venv's base
install, /opt) must be found and shown read-only. What is found comes from the command
PATH the sandbox gets, the toolchain homes the tools use, Go's module cache, the project's
Python environment (its venv, wherever the host found it), the repo's own venv, and minion's
own Python. A folder that would show more than a toolchain (the home itself, or a folder
that holds the repository and so its sibling projects) is never shown.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import pathguard

# Shown whole by the system part of the view.
SYSTEM_ROOTS = (Path("/usr"), Path("/bin"), Path("/sbin"), Path("/lib"), Path("/lib32"), Path("/lib64"),
                Path("/libx32"), Path("/etc"))

# Where the sandbox has its own, private folders: no host folder is shown there.
PRIVATE_ROOTS = (Path("/tmp"), Path("/var/tmp"), Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"))

# Where tools keep their toolchain when their variable is unset: variable -> home-relative dir.
TOOLCHAIN_HOMES = {
    "PYENV_ROOT": ".pyenv",
    "RUSTUP_HOME": ".rustup",
    "CARGO_HOME": ".cargo",
    "NVM_DIR": ".nvm",
    "GOPATH": "go",
}

# Inside a toolchain home, what is never shown (registry tokens).
TOOLCHAIN_SECRETS = {
    "CARGO_HOME": ("credentials", "credentials.toml"),
}

# Executables whose install prefix (``<prefix>/bin/<tool>``) is shown when found on PATH.
PREFIX_TOOLS = ("python3", "python", "node", "npm", "go", "cargo", "rustc", "java", "ruby", "deno", "bun")


@dataclass(frozen=True)
class Found:
    path: Path  # shown read-only at the same place
    why: str


@dataclass(frozen=True)
class Toolchain:
    mounts: list[Found]
    masks: list[Found]  # files inside a shown folder that stay hidden
    path: str  # the PATH the sandbox gets: only folders it can see
    env: dict[str, str]  # toolchain variables pointing at the shown homes
    left_out: list[Found]  # PATH entries and homes not shown, and why
    places: dict[str, str]  # variables naming what the tools look for and is shown: VIRTUAL_ENV, GOMODCACHE


def find_toolchain(*, parent_env: Mapping[str, str], real_home: Path, repo_path: Path,
                   dependency_dirs: list[Path], default_path: str, python_env: Path | None = None) -> Toolchain:
    """Everything the checks need from outside the system folders."""
    finder = _Finder(real_home, repo_path)
    env: dict[str, str] = {}
    places: dict[str, str] = {}
    masks: list[Found] = []
    for name, rel in TOOLCHAIN_HOMES.items():
        value = parent_env.get(name)
        folder = Path(value) if value else real_home / rel
        if not folder.is_dir():
            continue
        shown = _GOPATH_PARTS if name == "GOPATH" else ("",)  # a GOPATH may hold the repo (src/)
        # The user's own setting or home (never the repo's): trusted wherever it is.
        if any(finder.add(folder / part, f"{name}: the toolchain that {name} names", private_ok=True)
               for part in shown):
            env[name] = str(folder)
            masks += [Found(folder / secret, f"{name} registry token") for secret in TOOLCHAIN_SECRETS.get(name, ())
                      if (folder / secret).exists()]
    # Go reads modules from its cache, and without the network it can fetch none (read-only
    # here: a run's downloads would land in the user's cache).
    modules = _go_module_cache(parent_env, real_home)
    if modules.is_dir() and finder.add(modules, "GOMODCACHE: Go's module cache", private_ok=True):
        places["GOMODCACHE"] = str(modules)
    venv = finder.add_python_env(python_env) if python_env else None
    if venv:
        places["VIRTUAL_ENV"] = str(venv)
    for dep in dependency_dirs:  # the repo's own: a hostile repo commits what it likes here
        if base := _venv_base(repo_path, dep):
            finder.add(base, f"the base Python of {dep}", anywhere=False)
    for prefix in {Path(sys.prefix), Path(sys.base_prefix)}:  # wherever minion lives (a CI clone in /tmp)
        finder.add(prefix, "minion's own Python (checks may run it)", private_ok=True)

    kept = [str(venv / "bin")] if venv else []  # the project's tools first, as an activated venv has them
    for entry in (parent_env.get("PATH") or default_path).split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        if finder.visible(Path(entry)) or finder.add(_prefix_of(Path(entry)), f"on PATH: {entry}", anywhere=False):
            kept.append(entry)
    search_path = os.pathsep.join(kept) or default_path
    for tool in PREFIX_TOOLS:
        if found := shutil.which(tool, path=search_path):
            finder.add(_prefix_of(Path(os.path.realpath(found)).parent), f"{tool} ({found})", anywhere=False)
    return Toolchain(finder.mounts, masks, search_path, env, finder.left_out, places)


_GOPATH_PARTS = ("pkg/mod", "bin")


class _Finder:
    def __init__(self, real_home: Path, repo_path: Path):
        self.home = Path(os.path.realpath(real_home))
        self.repo = Path(os.path.realpath(repo_path))
        self.mounts: list[Found] = []
        self.left_out: list[Found] = []

    def visible(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        shown = [*SYSTEM_ROOTS, self.repo, *(m.path for m in self.mounts)]
        return any(real == root or root in real.parents for root in shown)

    def add(self, path: Path, why: str, *, anywhere: bool = True, private_ok: bool = False) -> bool:
        """Show ``path`` unless it reveals more than a toolchain; whether it is visible now.

        Only a known toolchain may come from the home (``anywhere``): a PATH entry such as
        ``~/.local/bin`` would show ``~/.local``, and with it the keyrings in ``~/.local/share``.
        Nothing is shown from where the sandbox has its own (``/tmp``, ``/proc``, ``/run`` …):
        a host folder there would be the host's sockets and processes, not a toolchain.
        """
        real = Path(os.path.realpath(path))
        if not real.is_dir():
            return False
        if self.visible(real):
            return True
        in_home = real == self.home or self.home in real.parents
        guessed = not anywhere and (in_home or (real / ".git").exists())
        private = not private_ok and any(real == root or root in real.parents for root in PRIVATE_ROOTS)
        if guessed or private or real == self.home or real in self.repo.parents:
            self.left_out.append(Found(real, f"{why}: not shown, it is in your home or holds projects "
                                             "(add it to sandbox_allow to show it)"))
            return False
        self.mounts.append(Found(real, why))
        return True

    def add_python_env(self, venv: Path) -> Path | None:
        """Show the project's Python environment and its base Python; its real path, or None
        (left out, and why) when it would show more than an environment.

        It may lie in the home (``~/.virtualenvs/x``) or under /tmp (a CI's venv), as the
        toolchain homes the user names may. Its base is shown as the repo venv's is: never
        from the home.
        """
        real = Path(os.path.realpath(venv))
        if why := _not_only_an_environment(real, self.home, self.repo):
            self.left_out.append(Found(real, f"the project's Python environment, not shown: {why}"))
            return None
        self.add(real, "the project's Python environment (VIRTUAL_ENV)", private_ok=True)
        if base := _venv_base(real, real):
            self.add(base, f"the base Python of {real}", anywhere=False)
        return real


def _not_only_an_environment(real: Path, home: Path, repo: Path) -> str | None:
    """Why showing the folder ``real`` would show more than a venv, if it would: a folder
    that is, or holds, the home, the repository, a project or a private root of the sandbox
    holds what no mask covers."""
    def holds(inner: Path) -> bool:
        return real == inner or real in inner.parents

    if holds(home):
        return "it is, or holds, your home"
    if holds(repo) or repo in real.parents:
        return "it is inside the repository, or holds it (list a venv of the repo in dependency_dirs)"
    if any(holds(root) for root in PRIVATE_ROOTS):
        return "it is, or holds, a folder the sandbox keeps private (/tmp, /proc, /run …)"
    if not ((real / "pyvenv.cfg").is_file() and (real / "bin" / "python").exists()):
        return "it is not a virtualenv (no pyvenv.cfg and bin/python)"
    if (real / ".git").exists():
        return "it holds a project (.git), not only an environment"
    return None


def _prefix_of(bin_dir: Path) -> Path:
    """``/opt/node/bin`` -> ``/opt/node``: tools find their libraries beside their bin/."""
    return bin_dir.parent if bin_dir.name == "bin" else bin_dir


def _go_module_cache(parent_env: Mapping[str, str], real_home: Path) -> Path:
    """Where Go keeps downloaded modules: ``$GOMODCACHE``, else ``pkg/mod`` of the first
    GOPATH entry (default ``~/go``)."""
    if value := parent_env.get("GOMODCACHE"):
        return Path(value)
    gopath = (parent_env.get("GOPATH") or "").split(os.pathsep)[0]
    return Path(gopath or real_home / "go") / "pkg" / "mod"


def _venv_base(root: Path, venv: Path) -> Path | None:
    """The install a venv was made from (``home =`` in pyvenv.cfg is its bin folder), if it
    is one: a folder with a Python in it. The file may be a hostile repo's, so it is read as
    one: a regular file inside ``root``, not through a link, at most a few KB."""
    try:
        text = pathguard.read_text(root, venv / "pyvenv.cfg", max_bytes=64 * 1024)
    except pathguard.PathRefused:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        home = Path(value.strip())
        if key.strip() == "home" and home.is_absolute() and any(home.glob("python3*")):
            return _prefix_of(home)
    return None
