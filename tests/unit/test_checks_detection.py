"""Checks chosen from what the project declares and has installed, and the interpreter found
for it, on real repos and real venvs (made with `python -m venv --without-pip`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minion.blueprint.checks import detect_checks
from minion.blueprint.python_env import PythonNotFound, find_python_env
from support.gitrepo import make_repo
from support.venv import install_by_link, make_venv

NO_ENV: dict[str, str] = {}  # no VIRTUAL_ENV


def venv_with(path: Path, *distributions: str, tools: tuple[str, ...] = ()) -> Path:
    """A real venv with ``distributions`` installed (linked from this Python's), and
    ``tools`` as executables in its bin (detection only looks for them)."""
    site = make_venv(path)
    for distribution in distributions:
        install_by_link(site, distribution)
    for tool in tools:
        (path / "bin" / tool).write_text("#!/bin/sh\nexit 0\n")
        (path / "bin" / tool).chmod(0o755)
    return path


def names(detection) -> list[str]:
    return [c.name for c in detection.checks]


def test_a_unittest_project_without_pytest_gets_unittest(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "tests/test_lib.py": "import unittest\n",
                                      ".gitignore": ".venv/\n"})
    venv_with(repo / ".venv")
    python = find_python_env(repo, None, NO_ENV)
    assert python.interpreter == ".venv/bin/python" and "the repository's .venv" in python.why
    found = detect_checks(repo, python)
    assert names(found) == ["unittest"]
    assert found.checks[0].command == ".venv/bin/python -m unittest discover -s tests -q"
    assert "pytest is not installed" in found.checks[0].why


def test_pytest_is_chosen_when_the_projects_environment_has_it(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "test_lib.py": "def test_x(): pass\n",
                                      ".gitignore": ".venv/\n"})
    venv_with(repo / ".venv", "pytest")
    found = detect_checks(repo, find_python_env(repo, None, NO_ENV))
    assert names(found) == ["pytest"]
    assert found.checks[0].command.startswith(".venv/bin/python -m pytest")


def test_ruff_comes_from_the_projects_venv_and_never_fixes(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "pyproject.toml": "[tool.ruff]\nfix = true\n",
                                      ".gitignore": ".venv/\n"})
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no ruff there
    python = find_python_env(repo, None, NO_ENV)
    assert names(detect_checks(repo, python)) == []
    assert any("ruff: [tool.ruff] in pyproject.toml, but ruff is neither" in n
               for n in detect_checks(repo, python).passed_over)
    venv_with(repo / ".venv", tools=("ruff",))
    found = detect_checks(repo, find_python_env(repo, None, NO_ENV))
    assert [(c.name, c.command) for c in found.checks] == [("ruff", ".venv/bin/ruff check --no-fix .")]


def test_flake8_and_mypy_from_their_config_files(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "setup.cfg": "[flake8]\nmax-line-length = 100\n",
                                      "mypy.ini": "[mypy]\nfiles = lib.py\n", ".gitignore": ".venv/\n"})
    venv_with(repo / ".venv", tools=("flake8", "mypy"))
    found = detect_checks(repo, find_python_env(repo, None, NO_ENV))
    assert [(c.name, c.command) for c in found.checks] == [("flake8", ".venv/bin/flake8"), ("mypy", ".venv/bin/mypy")]


def test_a_venv_outside_the_repo_from_the_python_setting(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "tests/test_lib.py": "def test_x(): pass\n"})
    venv = venv_with(tmp_path / "envs" / "r-py3", "pytest", tools=("ruff",))
    for setting in (str(venv / "bin" / "python"), str(venv)):
        python = find_python_env(repo, setting, NO_ENV)
        assert python.interpreter == str(venv / "bin" / "python") and python.prefix == venv and python.outside_repo
    assert detect_checks(repo, python).checks[0].command.startswith(f"{venv}/bin/python -m pytest")
    with pytest.raises(PythonNotFound, match="absolute path"):
        find_python_env(repo, "envs/r-py3/bin/python", NO_ENV)
    with pytest.raises(PythonNotFound, match="neither a virtualenv nor a Python interpreter"):
        find_python_env(repo, str(tmp_path / "nothing"), NO_ENV)


def test_the_active_virtualenv_wins_over_the_repos_venv(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", ".gitignore": ".venv/\n"})
    venv_with(repo / ".venv")
    active = venv_with(tmp_path / "active")
    python = find_python_env(repo, None, {"VIRTUAL_ENV": str(active)})
    assert python.prefix == active and "VIRTUAL_ENV" in python.why


def test_a_linked_venv_in_the_repo_is_not_used(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", ".gitignore": ".venv/\n"})
    os.symlink(venv_with(tmp_path / "elsewhere"), repo / ".venv")
    assert find_python_env(repo, None, NO_ENV).prefix is None


def test_poetrys_own_answer_names_its_environment(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "poetry.lock": "# lock\n"})
    venv = venv_with(tmp_path / "cache" / "pypoetry" / "virtualenvs" / "r-AbCd-py3.11")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A stand-in for poetry on the PATH, answering `poetry env info -p` as poetry does.
    (bin_dir / "poetry").write_text(f'#!/bin/sh\n[ "$*" = "env info -p" ] && echo "{venv}"\n')
    (bin_dir / "poetry").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    python = find_python_env(repo, None, NO_ENV)
    assert python.prefix == venv and "poetry" in python.why


def test_other_toolchains(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "package.json": json.dumps({"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}),
        "go.mod": "module example.com/x\n", "Cargo.toml": "[package]\nname = 'x'\n",
        "Makefile": "test:\n\tgo test ./...\n", "tox.ini": "[tox]\n",
    })
    found = detect_checks(repo, find_python_env(repo, None, NO_ENV))
    assert names(found) == ["go vet", "go test", "cargo test"]
    assert found.checks[2].command == "cargo test --quiet --offline"
    assert detect_checks(repo, find_python_env(repo, None, NO_ENV), network=True).checks[2].command == "cargo test --quiet"
    notes = " | ".join(found.passed_over)
    assert "npm test: package.json has no test script" in notes and "make test: cargo test, go test" in notes
    assert "tox: tox.ini found" in notes


def test_make_test_when_nothing_else_tests_the_project(tmp_path):
    repo = make_repo(tmp_path / "r", {"Makefile": "all:\n\ttrue\n\ntest: all\n\t./run-tests\n",
                                      "package.json": json.dumps({"scripts": {"lint": "x"}})})
    assert names(detect_checks(repo, find_python_env(repo, None, NO_ENV))) == ["make test"]


def test_minion_checks_prints_what_would_run_and_why(tmp_path):
    repo = make_repo(tmp_path / "r", {"lib.py": "X = 1\n", "tests/test_lib.py": "import unittest\n",
                                      "tox.ini": "[tox]\n", ".gitignore": ".venv/\n"})
    venv_with(repo / ".venv")
    out = subprocess.run([sys.executable, "-m", "minion.cli", "checks", "--repo", str(repo)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "python  .venv/bin/python  the repository's .venv" in out.stdout
    assert "unittest: .venv/bin/python -m unittest discover -s tests -q" in out.stdout
    assert "not run  tox: tox.ini found" in out.stdout
