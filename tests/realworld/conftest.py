"""Real projects end to end: each test builds one (projects.py) and runs minion on it.

Every test gets an empty user config home and no active virtualenv, so what minion chooses
comes from the project alone (or from the config the test writes). A missing toolchain
fails the test with what to install: CI must not pass by skipping.
"""

import os
from pathlib import Path

import pytest

from projects import BUILDERS, MissingTool, Project, path_with_cargo


@pytest.fixture(autouse=True)
def user_config_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)  # it would win over the project's .venv
    monkeypatch.setenv("PATH", path_with_cargo(os.environ.get("PATH", "")))
    return home


@pytest.fixture
def build(tmp_path):
    """``build(family)``: that family's project, in the test's folder."""

    def build(family: str) -> Project:
        try:
            return BUILDERS[family](tmp_path / "wordcount")
        except MissingTool as e:
            missing = str(e)
        pytest.fail(missing, pytrace=False)  # outside the except: no traceback chain, just what to install

    return build


@pytest.fixture(params=list(BUILDERS))
def project(request, build) -> Project:
    return build(request.param)
