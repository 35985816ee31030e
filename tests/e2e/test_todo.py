"""`minion todo`: find TODO(minion) comments in tracked files and hand each to its own run."""

import json
import subprocess
import sys

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git, write_files
from support.script import done, write_script

FILES = {
    "app/cache.py": (
        "def load(key):\n"
        "    # TODO(minion): cache the result of load()\n"
        "    return key\n\n"
        "BANNER = \"TODO(minion): this is a string, not a task\"\n"
    ),
    "web/ui.js": "export function draw() {\n  // TODO: minion add a loading spinner\n  return 1;\n}\n",
    "lib/mod.rs": "fn parse() -> u8 {\n    0 // TODO(minion): parse the header\n}\n",
    "notes.md": "# TODO(minion): not code\n",
    ".gitignore": "build/\n",
}


def minion(*args, cwd):
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], capture_output=True, text=True, cwd=cwd)


def make_todo_repo(tmp_path):
    repo = make_repo(tmp_path / "todo repo", FILES)
    write_files(repo, {"scratch.py": "# TODO(minion): untracked\n", "build/gen.py": "# TODO(minion): ignored\n"})
    return repo


def test_dry_run_lists_exactly_the_tracked_comment_todos(tmp_path):
    repo = make_todo_repo(tmp_path)
    result = minion("todo", "--dry-run", "--json", cwd=repo / "app")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"path": "app/cache.py", "line": 2, "text": "cache the result of load()"},
        {"path": "lib/mod.rs", "line": 2, "text": "parse the header"},
        {"path": "web/ui.js", "line": 2, "text": "add a loading spinner"},
    ]
    only_web = minion("todo", "--dry-run", "--json", "web", cwd=repo)
    assert [t["path"] for t in json.loads(only_web.stdout)] == ["web/ui.js"]


def test_a_batch_of_three_todos_gives_three_branches_each_without_its_todo(tmp_path):
    repo = make_todo_repo(tmp_path)
    (repo / ".minion").mkdir()
    (repo / ".minion" / "config.toml").write_text("checks = {}\n")
    before = fingerprint(repo)
    model = write_script(tmp_path, [done("Handled the TODO.")])
    result = minion("todo", "--json", "--max-parallel", "3", "--model", model, cwd=repo)
    assert result.returncode == 0, result.stderr + result.stdout
    runs = json.loads(result.stdout)
    assert len(runs) == 3 and all(r["status"] == "ok" for r in runs)
    assert len({r["branch"] for r in runs}) == 3

    by_file = {r["files"][0]: r for r in runs}
    assert sorted(by_file) == ["app/cache.py", "lib/mod.rs", "web/ui.js"]
    cache = run_git(repo, "show", f"{by_file['app/cache.py']['branch']}:app/cache.py")
    assert "cache the result" not in cache and "return key" in cache and "not a task" in cache
    rust = run_git(repo, "show", f"{by_file['lib/mod.rs']['branch']}:lib/mod.rs")
    assert rust.splitlines()[1] == "    0"
    # Each branch leaves the other TODOs alone.
    assert "TODO: minion" in run_git(repo, "show", f"{by_file['app/cache.py']['branch']}:web/ui.js")
    assert_unchanged(before, fingerprint(repo))
