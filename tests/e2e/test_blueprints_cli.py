"""`minion blueprints`: what a run can use, where each comes from, and what is not yet trusted."""

import json
import os
import subprocess
import sys

from support.gitrepo import write_files

from minion.trust import trust_repo

CAREFUL = ("import minion.blueprint as bp\n\n\n@bp.blueprint('careful', 'Check twice')\n"
           "async def careful(run: bp.Run) -> None:\n    await run.commit()\n")
OVERRIDE = ("from minion.blueprint import blueprint\n\n@blueprint(name='default', description='just commit')\n"
            "async def only_commit(run):\n    await run.commit()\n")


def blueprints(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "minion.cli", "blueprints", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


def test_it_lists_builtins_repo_files_and_what_is_not_trusted(repo):
    write_files(repo, {".minion/blueprints/careful.py": CAREFUL, ".minion/blueprints/default.py": OVERRIDE})
    listed = blueprints("--repo", str(repo))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["default", "built-in"], ["fix", "built-in"],
                                                        ["todo", "built-in"]]
    assert "not trusted" in listed.stdout and f"minion trust --repo {repo.resolve()}" in listed.stdout
    assert ".minion/blueprints/careful.py  sha256 " in listed.stdout and "declares careful" in listed.stdout
    assert "declares default" in listed.stdout

    trust_repo(repo)
    listed = blueprints(cwd=repo)  # --repo defaults to the current folder
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert rows.keys() == {"careful", "default", "fix", "todo"} and "not trusted" not in listed.stdout
    assert rows["careful"].split()[1] == ".minion/blueprints/careful.py:5" and rows["careful"].endswith("Check twice")
    assert rows["default"].split()[1] == ".minion/blueprints/default.py:4"
    assert rows["default"].endswith("just commit (overrides the built-in)")
    assert rows["fix"].split()[1] == "built-in"

    data = json.loads(blueprints("--repo", str(repo), "--json").stdout)
    by_name = {b["name"]: b for b in data["blueprints"]}
    assert by_name["careful"]["builtin"] is False and by_name["careful"]["function"] == "careful"
    assert by_name["default"]["overrides"].endswith("default.py") and by_name["fix"]["builtin"] is True
    assert data["untrusted"] == [] and data["problems"] == []


def test_a_file_that_does_not_parse_is_a_problem_not_a_crash(repo):
    write_files(repo, {".minion/blueprints/broken.py": "async def oops(:\n"})
    trust_repo(repo)
    listed = blueprints("--repo", str(repo))
    assert listed.returncode == 2
    assert "broken.py failed to load" in listed.stdout and "default" in listed.stdout


def test_outside_a_repository_it_lists_the_builtins(tmp_path):
    listed = blueprints(cwd=tmp_path)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["default", "fix", "todo"]
    assert "built-in blueprints only" in listed.stderr
