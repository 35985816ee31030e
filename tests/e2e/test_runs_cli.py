"""`minion list` and `minion logs` as the user runs them: real CLI processes, real runs."""

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo
from support.script import done, replace, write_script

from minion.runs.events import log_path, read_events

LONG_TASK = "rename the add helper to something far more descriptive and explain it everywhere"


def minion(*args: str, cwd, columns: int = 40, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": str(columns), **env}, timeout=300)


def run_in(repo, tmp_path, name: str) -> dict:
    (tmp_path / name).mkdir()
    model = write_script(tmp_path / name, [[replace("calc/ops.py", "return a - b", "return a + b")], done()])
    ran = minion("run", LONG_TASK, "--model", str(model), "--json", "--sandbox", "none", cwd=repo)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_list_shows_this_repositorys_runs_unwrapped_and_all_with_a_repo_column(tmp_path):
    one, other = make_repo(tmp_path / "one repo"), make_repo(tmp_path / "other")
    (one / "calc" / "deep").mkdir()
    before = fingerprint(one)
    first, second, elsewhere = run_in(one, tmp_path, "a"), run_in(one, tmp_path, "b"), run_in(other, tmp_path, "c")
    assert_unchanged(before, fingerprint(one))  # `minion run` and `minion list` leave the user's repo as it was

    listed = minion("list", cwd=one / "calc" / "deep")  # found from a subfolder
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "status", "started", "cost", "branch", "task"]
    assert [line.split()[0] for line in lines[1:]] == [second["id"], first["id"]]  # newest first, no other repo
    for line, run in zip(lines[1:], [second, first], strict=True):
        assert len(line) > 40 and run["branch"] in line.split()  # whole, at 40 columns
        assert LONG_TASK[:60].rstrip() in line

    everything = minion("list", "--all", cwd=tmp_path)
    rows = everything.stdout.splitlines()
    assert rows[0].split() == ["id", "status", "started", "cost", "branch", "repo", "task"]
    assert [r.split()[0] for r in rows[1:]] == [elsewhere["id"], second["id"], first["id"]]
    repo_at = rows[0].index("repo")
    assert rows[1][repo_at:].startswith(str(other) + " ") and rows[2][repo_at:].startswith(str(one) + " ")

    by_flag = minion("list", "--repo", str(other), "--json", cwd=tmp_path)
    assert [r["id"] for r in json.loads(by_flag.stdout)] == [elsewhere["id"]]
    outside = minion("list", cwd=tmp_path)  # not in a repository: every run, said so
    assert "every repository" in outside.stderr and len(outside.stdout.splitlines()) == 4


def test_list_on_a_narrow_terminal_keeps_identifiers_whole(tmp_path):
    repo = make_repo(tmp_path / "repo")
    run = run_in(repo, tmp_path, "a")
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "minion.cli", "list"], cwd=repo, stdin=follower,
                               stdout=follower, stderr=follower, env={**os.environ, "COLUMNS": "50"})
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([leader], [], [], 1)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode())
    line = next((line for line in text.splitlines() if line.startswith(run["id"])), text)
    assert run["branch"] in line and " ok " in line  # one piece, on the run's line, though wider than the terminal


def test_logs_show_local_times(tmp_path):
    repo = make_repo(tmp_path / "repo")
    run = run_in(repo, tmp_path, "a")
    zone = "Asia/Kathmandu"  # UTC+05:45: no mistaking it for UTC or a whole-hour offset
    logs = minion("logs", run["id"], cwd=tmp_path, columns=200, TZ=zone)
    assert logs.returncode == 0, logs.stderr
    events = list(read_events(log_path(run["id"])))
    lines = logs.stdout.splitlines()
    assert len(lines) >= len(events) and not re.search(r"\b\d{10}\.\d+\b", logs.stdout)  # no epoch floats
    os.environ["TZ"] = zone
    try:
        time.tzset()
        expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(events[0]["ts"]))
    finally:
        del os.environ["TZ"]
        time.tzset()
    assert lines[0].startswith(expected + ".") and lines[0].split()[2] == events[0]["type"]
