"""Which Python the project's checks run with, found on the host without running repo code.

In order: the ``python`` setting (user config, the editor, ``--python``; a cloned repo's own
config may not set it), ``VIRTUAL_ENV`` of minion's process, ``.venv``/``venv`` in the repo,
then the project managers' own answer when their lock file is there (``poetry env info -p``,
``pipenv --venv``; uv keeps its environment in ``.venv``), else the host's ``python3``.

A managed venv outside the repo is shown read-only in the sandbox at its real path (see
``SandboxPolicy.python_env``); one inside the repo comes with the repo's dependency folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import MinionError

MANAGER_TIMEOUT_S = 10  # poetry and pipenv start slowly, but a hung one must not hold the run
REPO_VENVS = (".venv", "venv")


@dataclass(frozen=True)
class PythonEnv:
    interpreter: str  # as the sandbox runs it: repo-relative for the repo's venv, else absolute
    prefix: Path | None  # the venv folder, or None for a system interpreter
    why: str  # how it was found, for `minion checks`

    @property
    def outside_repo(self) -> bool:
        return self.prefix is not None and not self.interpreter.startswith(REPO_VENVS)

    @property
    def bin(self) -> str | None:
        """The environment's bin folder as the sandbox names it."""
        return self.interpreter.rsplit("/", 1)[0] if self.prefix is not None else None

    def tool(self, name: str) -> str | None:
        """``name`` from this environment's bin folder, else from the PATH."""
        if self.prefix is not None:
            own = self.prefix / "bin" / name
            if own.is_file() and os.access(own, os.X_OK):
                return f"{self.bin}/{name}"
        return shutil.which(name)

    def provides(self, tool: str) -> bool:
        return self.bin is not None and tool.startswith(self.bin + "/")

    def has_module(self, module: str) -> bool:
        """Whether ``module`` is installed in this environment: looked up in its
        site-packages, so nothing of the environment runs on the host."""
        if self.prefix is None:
            return _system_has_module(self.interpreter, module)
        sites = [*self.prefix.glob("lib/python3*/site-packages"), *self.prefix.glob("lib64/python3*/site-packages")]
        if any((site / module).is_dir() or (site / f"{module}.py").is_file() for site in sites):
            return True
        base = _base_interpreter(self.prefix)  # a venv made with --system-site-packages sees the base's too
        return base is not None and _system_has_module(base, module)


class PythonNotFound(MinionError):
    """The ``python`` setting names no usable interpreter or environment."""


def find_python_env(repo_root: Path, setting: str | None, environ: Mapping[str, str] | None = None) -> PythonEnv:
    environ = os.environ if environ is None else environ
    if setting:
        return _from_setting(repo_root, setting)
    if active := environ.get("VIRTUAL_ENV"):
        if found := _venv(repo_root, Path(active), "the active virtualenv (VIRTUAL_ENV)"):
            return found
    for name in REPO_VENVS:
        if (repo_root / name).is_symlink():
            continue  # a link in the repo could name any folder of the host
        if found := _venv(repo_root, repo_root / name, f"the repository's {name}"):
            return found
    for lock, command in (("poetry.lock", ["poetry", "env", "info", "-p"]), ("Pipfile.lock", ["pipenv", "--venv"])):
        if (repo_root / lock).is_file() and shutil.which(command[0]):
            where = _ask(command, repo_root)
            if where and (found := _venv(repo_root, Path(where), f"{command[0]}'s environment ({lock})")):
                return found
    return PythonEnv("python3", None, "the host's python3 (no project environment found)")


def _from_setting(repo_root: Path, setting: str) -> PythonEnv:
    path = Path(setting).expanduser()
    if not path.is_absolute():
        raise PythonNotFound(f"the python setting must be an absolute path (got {setting!r})")
    # A venv's interpreter is usually a link to the base one: the venv is the folder above bin.
    venv = path if path.is_dir() else path.parent.parent
    if found := _venv(repo_root, venv, f"the python setting ({setting})"):
        return found
    if path.is_file() and os.access(path, os.X_OK):
        return PythonEnv(str(path), None, f"the python setting ({setting})")
    raise PythonNotFound(f"the python setting names {setting}, which is neither a virtualenv nor a Python interpreter")


def _venv(repo_root: Path, folder: Path, why: str) -> PythonEnv | None:
    if not (folder / "pyvenv.cfg").is_file() or not (folder / "bin" / "python").exists():
        return None
    if folder.parent == repo_root and folder.name in REPO_VENVS:
        return PythonEnv(f"{folder.name}/bin/python", folder, why)
    real = Path(os.path.realpath(folder))  # the sandbox shows it at its real path
    return PythonEnv(str(real / "bin" / "python"), real, why)


def _ask(command: list[str], repo_root: Path) -> str | None:
    try:
        done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=MANAGER_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env={**os.environ, "PIPENV_DONT_LOAD_ENV": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else None


def _base_interpreter(venv: Path) -> str | None:
    """The base Python of a venv that includes the system site-packages, from pyvenv.cfg."""
    config = {}
    for line in (venv / "pyvenv.cfg").read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        config[key.strip().lower()] = value.strip()
    if config.get("include-system-site-packages", "").lower() != "true" or not config.get("home"):
        return None
    python = Path(config["home"]) / "python3"
    return str(python) if python.exists() else None


def _system_has_module(interpreter: str, module: str) -> bool:
    """The host's own interpreter is asked in isolated mode (-I), from /: no repo code runs."""
    if not (python := shutil.which(interpreter)):
        return False
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([python, "-I", "-c", probe], cwd="/", capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
