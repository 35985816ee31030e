"""The toolchain a run's checks need, found on this host rather than guessed.

The sandbox shows the system (``/usr`` …) and nothing of the user's home, so every
interpreter and build tool that lives elsewhere (pyenv, nvm, rustup, a venv's base
install, /opt) must be found and shown read-only. What is found comes from the command
PATH the sandbox gets, the toolchain homes the tools use, the repo's own venv, and minion's
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


def find_toolchain(*, parent_env: Mapping[str, str], real_home: Path, repo_path: Path,
                   dependency_dirs: list[Path], default_path: str) -> Toolchain:
    """Everything the checks need from outside the system folders."""
    finder = _Finder(real_home, repo_path)
    env: dict[str, str] = {}
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
    for dep in dependency_dirs:  # the repo's own: a hostile repo commits what it likes here
        if base := _venv_base(repo_path, dep):
            finder.add(base, f"the base Python of {dep}", anywhere=False)
    for prefix in {Path(sys.prefix), Path(sys.base_prefix)}:  # wherever minion lives (a CI clone in /tmp)
        finder.add(prefix, "minion's own Python (checks may run it)", private_ok=True)

    kept = []
    for entry in (parent_env.get("PATH") or default_path).split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        if finder.visible(Path(entry)) or finder.add(_prefix_of(Path(entry)), f"on PATH: {entry}", anywhere=False):
            kept.append(entry)
    search_path = os.pathsep.join(kept) or default_path
    for tool in PREFIX_TOOLS:
        if found := shutil.which(tool, path=search_path):
            finder.add(_prefix_of(Path(os.path.realpath(found)).parent), f"{tool} ({found})", anywhere=False)
    return Toolchain(finder.mounts, masks, search_path, env, finder.left_out)


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


def _prefix_of(bin_dir: Path) -> Path:
    """``/opt/node/bin`` -> ``/opt/node``: tools find their libraries beside their bin/."""
    return bin_dir.parent if bin_dir.name == "bin" else bin_dir


def _venv_base(repo_path: Path, venv: Path) -> Path | None:
    """The install a venv was made from (``home =`` in pyvenv.cfg is its bin folder), if it
    is one: a folder with a Python in it. The file is the repo's, so it is read as a hostile
    file: a regular file inside the repo, not through a link, at most a few KB."""
    try:
        text = pathguard.read_text(repo_path, venv / "pyvenv.cfg", max_bytes=64 * 1024)
    except pathguard.PathRefused:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        home = Path(value.strip())
        if key.strip() == "home" and home.is_absolute() and any(home.glob("python3*")):
            return _prefix_of(home)
    return None
