"""Standbys: `minion run` handed to a process that has done its imports runs exactly as it
would in the launcher's own process: the launcher's folder, environment and terminal, its
exit code, Ctrl-C cancelling the run; a standby that died is passed over."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.standby import standbys_dir
from support.fake_anthropic import FakeAnthropic, Turn
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done, replace, write_script

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


def minion(*args: str, **options) -> subprocess.Popen:
    """The `minion` command, as a user's shell starts it (the launcher)."""
    return subprocess.Popen([sys.executable, "-m", "minion", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


def start_standby() -> int:
    subprocess.run([sys.executable, "-c", "from minion.standby import spawn_standbys; spawn_standbys(1, wait=True)"],
                   check=True)
    (waiting,) = standbys_dir().glob("*.sock")
    return int(waiting.stem)


def test_a_run_handed_to_a_standby_runs_with_the_launchers_folder_and_environment(repo, tmp_path):
    start_standby()
    before = fingerprint(repo)
    with FakeAnthropic() as api:  # its address and the key exist only in the launcher's environment
        api.script(Turn([FIX_ADD]), Turn(done("Fixed.")))
        env = {**os.environ, "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.url}
        launched = minion("run", "--model", "anthropic:claude-sonnet-4-5", "--json", "fix add", cwd=repo / "calc", env=env)
        out, err = launched.communicate(timeout=120)

    assert launched.returncode == 0, err
    result = json.loads(out)
    record = RunStore().get(result["id"])
    assert record.status is Status.OK and record.repo == str(repo)  # found from the launcher's folder
    assert len(api.requests) == 2
    assert not list(standbys_dir().glob("*.sock"))  # the standby took it; it serves one command
    assert "return a + b" in run_git(repo, "show", f"{record.branch}:calc/ops.py")
    assert_unchanged(before, fingerprint(repo))


def test_ctrl_c_in_the_launcher_cancels_the_run_in_the_standby(repo, tmp_path):
    standby = start_standby()
    model = write_script(tmp_path, [[FIX_ADD], [bash("sleep 60")], done()])
    launched = minion("run", "--model", model, "--json", "fix add", cwd=repo)
    deadline = time.monotonic() + 60
    while not _run_is_in(RunStore(), "bash"):
        assert launched.poll() is None and time.monotonic() < deadline, launched.communicate()
        time.sleep(0.1)

    assert RunStore().recent(limit=1)[0].worker_pid == standby
    launched.send_signal(signal.SIGINT)
    out, err = launched.communicate(timeout=30)

    result = json.loads(out)
    assert result["status"] == "cancelled"
    assert launched.returncode == Status.CANCELLED.exit_code
    assert "return a + b" in run_git(repo, "show", f"{result['branch']}:calc/ops.py")  # its work is kept


def test_a_standby_that_died_is_passed_over(repo, tmp_path):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(standbys_dir() / "999999.sock"))
    dead.close()  # the file stays, no one listens
    model = write_script(tmp_path, [[FIX_ADD], done()])

    launched = minion("run", "--model", model, "--json", "fix add", cwd=repo)
    out, err = launched.communicate(timeout=120)

    assert launched.returncode == 0, err
    assert RunStore().get(json.loads(out)["id"]).status is Status.OK
    assert not (standbys_dir() / "999999.sock").exists()


def _run_is_in(store: RunStore, tool: str) -> bool:
    runs = store.recent(limit=1)
    return bool(runs) and any(e["type"] == "agent.tool" and e["tool"] == tool for e in read_events(log_path(runs[0].id)))
