"""Emacs 28 + eglot 1.9 (Debian) as the plain-client check: eglot advertises neither
work-done progress nor window/showDocument and knows nothing of minion's commands, and
still hands off a TODO, gets the diagnostics and applies the quick fix (emacs/e2e.el)."""

import json
from pathlib import Path

import pytest

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git

from .conftest import PYTHON, SUMMARY, run_editor

pytestmark = pytest.mark.editor


def test_a_todo_handed_off_from_plain_eglot_degrades_to_messages_and_diagnostics(calc_repo, mul_model, tmp_path):
    before = fingerprint(calc_repo)
    out = tmp_path / "result.json"
    done = run_editor(["emacs", "--batch", "-Q", "-l", str(Path(__file__).parent / "emacs" / "e2e.el")],
                      cwd=calc_repo, env={"MINION_E2E_PYTHON": PYTHON, "MINION_E2E_MODEL": mul_model,
                                          "MINION_E2E_OUT": str(out), "HOME": str(tmp_path)},
                      timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    [branch] = run_git(calc_repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/minion/").splitlines()
    [diagnostic] = result["diagnostics"]
    assert diagnostic["line"] == 7  # `return 0` below the TODO
    assert diagnostic["code"] in branch and SUMMARY in diagnostic["text"]
    # Without progress support the server said so in a plain message.
    assert f"minion started run {diagnostic['code']}" in done.stderr
    assert result["text"] == run_git(calc_repo, "show", f"{branch}:calc/ops.py") + "\n"
    assert_unchanged(before, fingerprint(calc_repo))
