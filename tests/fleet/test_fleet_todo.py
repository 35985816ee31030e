"""`minion todo` with executor = "temporal" in the user config: each TODO's run executes on
a worker, and its branch comes home with the same tree as a local `minion todo` of the
same script. A fleet that does not answer is said before any run is created."""

import json
import os
import subprocess
import sys
from pathlib import Path

from lsp.lsp_session import FILES
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git
from support.script import done, replace, text, write_script

from minion.runs.events import log_path, read_events
from minion.runs.store import RunStore

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]


def todo(repo: Path, model: str) -> dict:
    ran = subprocess.run([sys.executable, "-m", "minion", "todo", "--model", model, "--json"], cwd=repo,
                         capture_output=True, text=True, timeout=240)
    assert ran.returncode == 0, ran.stderr
    [result] = json.loads(ran.stdout)
    assert result["status"] == "ok", result
    return result


def test_minion_todo_runs_on_the_fleet_when_the_user_config_says_so(tmp_path, start_worker, fleet_env):
    repo = make_repo(tmp_path / "user repo ü", FILES)
    start_worker("todo1")
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "minion" / "config.toml"
    plain = config.read_text()
    config.write_text(plain + 'executor = "temporal"\n')
    before = fingerprint(repo)
    (tmp_path / "fleet").mkdir()
    (tmp_path / "local").mkdir()

    fleet = todo(repo, write_script(tmp_path / "fleet", FIX))
    [where] = [e for e in read_events(log_path(fleet["id"])) if e["type"] == "fleet.run"]
    assert where["worker"] == "todo1"
    assert RunStore().get(fleet["id"]).settings.executor == "temporal"
    assert fleet["files"] == ["calc/ops.py"]
    ops = run_git(repo, "show", f"{fleet['branch']}:calc/ops.py")
    assert "return a + b" in ops and "TODO(minion)" not in ops  # the todo blueprint removed the comment
    assert_unchanged(before, fingerprint(repo))

    config.write_text(plain)  # local again
    local = todo(repo, write_script(tmp_path / "local", FIX))
    assert not [e for e in read_events(log_path(local["id"])) if e["type"] == "fleet.run"]
    assert run_git(repo, "rev-parse", f"{fleet['branch']}^{{tree}}") == run_git(repo, "rev-parse",
                                                                              f"{local['branch']}^{{tree}}")


def test_minion_todo_says_at_once_when_the_fleet_does_not_answer_and_creates_nothing(tmp_path, fleet_remote):
    from support.net import free_port

    repo = make_repo(tmp_path / "user repo ü", FILES)
    before = fingerprint(repo)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    ran = subprocess.run([sys.executable, "-m", "minion", "todo", "--executor", "temporal", "--model",
                          write_script(tmp_path, FIX)], cwd=repo, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "MINION_TEMPORAL_ADDRESS": address,
                              "MINION_FLEET_REMOTE": str(fleet_remote)})
    assert ran.returncode != 0
    assert f"the Temporal server at {address}" in ran.stderr and "cannot be reached" in ran.stderr, ran.stderr
    assert RunStore().recent(repo=repo) == []
    assert run_git(fleet_remote, "for-each-ref") == ""
    assert_unchanged(before, fingerprint(repo))
