"""`minion run` on a project whose venv lives outside the repository, named by the
``python`` setting of the user config: the checks run with that venv's interpreter, and
against the run's worktree, never the copy of the package installed in the venv."""

import json
import subprocess
import sys

from support.venv import make_venv
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo
from support.script import done, replace, write_script

TASK = "greet must say Hello, then the name, then an exclamation mark"

# The repository's code has a regression the task fixes; the venv has the last release,
# which greets right. So only the worktree's copy, once fixed, passes both tests.
REPO_FILES = {
    "mypkg/__init__.py": '"""Greetings."""\n\n__version__ = "2.0.dev0"\n\n\ndef greet(name):\n    return "Hello " + name\n',
    "tests/test_greet.py": (
        "import unittest\nfrom pathlib import Path\n\nimport mypkg\n\n"
        "CHECKED_OUT = Path(__file__).resolve().parent.parent / 'mypkg' / '__init__.py'\n\n\n"
        "class GreetTest(unittest.TestCase):\n"
        "    def test_the_checked_out_copy_is_imported(self):\n"
        "        print(f'imported mypkg from {mypkg.__file__}')\n"
        "        self.assertEqual(Path(mypkg.__file__).resolve(), CHECKED_OUT)\n\n"
        "    def test_greet_punctuates(self):\n"
        "        self.assertEqual(mypkg.greet('Ada'), 'Hello, Ada!')\n"
    ),
    ".gitignore": "__pycache__/\n",
}
RELEASED = '"""Greetings."""\n\n__version__ = "1.0.0"\n\n\ndef greet(name):\n    return f"Hello, {name}!"\n'
FIX = replace("mypkg/__init__.py", 'return "Hello " + name', 'return f"Hello, {name}!"')


def minion(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], capture_output=True, text=True, timeout=280)


def test_checks_use_the_configured_venv_outside_the_repo_and_import_the_worktrees_code(tmp_path, user_config_home):
    repo = make_repo(tmp_path / "greeter", REPO_FILES)
    venv = tmp_path / "envs" / "proj-venv"
    installed = make_venv(venv) / "mypkg"  # installed as pip would, not editable: a copy
    installed.mkdir()
    (installed / "__init__.py").write_text(RELEASED)
    config = user_config_home / "minion" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'python = "{venv}/bin/python"\n')
    before = fingerprint(repo)

    shown = minion("checks", "--repo", str(repo))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"python  {venv}/bin/python") and "the python setting" in shown.stdout, shown.stdout

    model = write_script(tmp_path, [[FIX], done("greet punctuates again.")])
    result = minion("run", "--repo", str(repo), "--model", model, "--json", TASK)
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["checks"]] == ["unittest"], (data["summary"], data["checks"])
    unittest = data["checks"][0]
    assert unittest["command"].startswith(f"{venv}/bin/python -m unittest"), unittest["command"]
    assert unittest["ok"], unittest["output"]
    assert f"imported mypkg from {repo}/mypkg/__init__.py" in unittest["output"], unittest["output"]
    assert str(installed) not in unittest["output"]
    assert data["status"] == "ok" and result.returncode == 0, (data["summary"], result.stderr[-2000:])
    assert_unchanged(before, fingerprint(repo))
