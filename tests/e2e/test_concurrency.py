"""Twenty runs at once in one repo, each its own process: own branches, complete logs."""

import json
import subprocess
import sys
from pathlib import Path

from minion.runs.events import read_events
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git, write_files
from support.script import done, tool, write_script

RUNS = 20


def test_twenty_concurrent_runs_in_one_repo(repo, tmp_path):
    write_files(repo, {"calc/ops.py": "def add(a, b):\n    return a - b  # unsaved-ish edit\n", "new.txt": "untracked\n",
                       ".minion/config.toml": "checks = {}\n"})
    before = fingerprint(repo)
    procs = []
    for i in range(RUNS):
        note = tool("str_replace_based_edit_tool", command="create", path=f"notes/run{i}.txt", file_text=f"run {i}\n")
        model = write_script(tmp_path, [[note], done()], f"script{i}.json")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "minion.cli", "run", "--repo", str(repo), "--model", model, "--json",
             "--max-time", "240", f"task number {i}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        results.append(json.loads(stdout))

    assert len({r["branch"] for r in results}) == RUNS
    for i, result in enumerate(results):
        assert result["status"] == "ok"
        assert result["files"] == [f"notes/run{i}.txt"]
        assert run_git(repo, "show", f"{result['branch']}:notes/run{i}.txt") == f"run {i}"
        # The dirty state every run started from is in its snapshot.
        assert "# unsaved-ish edit" in run_git(repo, "show", f"{result['branch']}:calc/ops.py")
        kinds = [e["type"] for e in read_events(Path(result["log"]))]
        assert kinds[0] == "run.start" and kinds[-1] == "run.end"
        assert kinds.count("node.start") == kinds.count("node.end") == 3  # context, implement, commit
    assert_unchanged(before, fingerprint(repo))
