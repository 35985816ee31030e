"""Committed risks: what the agent leaves in the worktree for the host-side commit to put on
the user's repository. A file too big for a review (or for GitHub), a symlink that leads out
of the repo, a tracked file turned into a symlink (the user's editor would write through it
after checkout), a name with a bidi override that spoofs another name, and nested
repositories, committed or not (the commit used to fail on one). The run must end well,
with every one of them left out and named."""

import os
import subprocess
import sys

from battery import agent_run
from minion.runs.events import log_path, read_events
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done

SPOOF = "evil\u202etxt.py"  # shows as "evilyp.txt"


async def test_the_commit_guard_leaves_out_and_names_each_risk(user_repo, tmp_path, attacks):
    before = fingerprint(user_repo)
    objects_before = sum(f.stat().st_size for f in (user_repo / ".git/objects").rglob("*") if f.is_file())
    run = await agent_run(user_repo, tmp_path, [[
        bash("head -c 60M /dev/urandom > big.bin"),
        bash("ln -s /etc/passwd passwd-link && ln -s ../../outside.txt up-link"),
        bash("rm calc/ops.py && ln -s __init__.py calc/ops.py"),
        bash(f"echo 'x = 1' > '{SPOOF}'"),
        bash("git init -q empty-nested && mkdir nested && cd nested && git init -q && "
             "echo hi > a && git -c user.name=a -c user.email=a@a add a && "
             "git -c user.name=a -c user.email=a@a commit -qm x"),
        bash("echo 'ok = True' > fine.py && ln -s fine.py fine-link"),
    ], done("Finished."), done("I leave them as they are."), done("Still as they are.")])
    record = run.record
    tree = run_git(user_repo, "ls-tree", "-r", "-z", "--name-only", record.branch).split("\0")
    refused = {r.path: r.why for r in record.refused}
    assert record.status.value == "ok", (record.status, record.error)  # the run ends well
    assert "fine.py" in tree and "fine-link" in tree  # positive controls: the harmless ones are committed
    for path, name in [("big.bin", "a 60 MB file"), ("passwd-link", "a symlink to /etc/passwd"),
                       ("up-link", "a symlink out through .."), ("calc/ops.py", "a tracked file turned into a symlink"),
                       (SPOOF, "a name with a bidi override"), ("empty-nested", "a nested repository with no commit"),
                       ("nested", "a nested repository with a commit")]:
        on_branch = path in tree if path != "calc/ops.py" else (
            run_git(user_repo, "ls-tree", record.branch, "calc/ops.py").split()[0] == "120000")
        attacks.check(f"commit: {name}", not on_branch and path in refused, (on_branch, refused))
    objects_after = sum(f.stat().st_size for f in (user_repo / ".git/objects").rglob("*") if f.is_file())
    attacks.check("commit: the big file's blob written into the user's .git anyway",
                  objects_after - objects_before < 10 * 1024 * 1024, objects_after - objects_before)
    assert os.path.getsize(os.path.join(record.worktree, "big.bin")) == 60 * 1024 * 1024  # it stays in the worktree
    assert_unchanged(before, fingerprint(user_repo))


async def test_the_result_names_what_was_left_out_safely(user_repo, tmp_path):
    run = await agent_run(user_repo, tmp_path, [[bash(f"echo 'x = 1' > '{SPOOF}'")], done(), done()], repair_rounds=1)
    shown = subprocess.run([sys.executable, "-m", "minion.cli", "show", run.record.id], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "left out" in shown.stdout and "\u202e" not in shown.stdout and "\\u202e" in shown.stdout
    as_json = subprocess.run([sys.executable, "-m", "minion.cli", "show", "--json", run.record.id],
                             capture_output=True, text=True)
    assert '"refused"' in as_json.stdout and "bidi" in as_json.stdout


async def test_the_agent_is_told_what_the_commit_would_leave_out_and_can_fix_it(user_repo, tmp_path):
    """Told in the result of the call that did it, and again in the repair prompt; a repair
    that fixes it gets its work onto the branch."""
    run = await agent_run(user_repo, tmp_path, [
        [bash("head -c 3M /dev/zero > data.bin && echo 'x = 1' > small.py")],
        [bash("echo 'y = 2' >> small.py")],  # nothing new to tell
        done("Finished."),
        [bash("head -c 1K /dev/zero > data.bin")],  # the repair round makes it small enough
    ], max_commit_file_mb=1)
    record = run.record
    told = run.output(0)
    assert "commit guard will leave these out" in told and "data.bin: 3 MB, over the 1 MB" in told, told
    assert "commit guard" not in run.output(1)  # the same news is not repeated
    repair = [e for e in read_events(log_path(record.id)) if e["type"] == "node.start" and e["name"] == "repair 1"]
    assert repair, "a repair round ran for the left-out file"
    assert record.status.value == "ok" and record.refused == [], (record.status, record.refused)
    tree = run_git(user_repo, "ls-tree", "-r", "--name-only", record.branch).split("\n")
    assert "data.bin" in tree and "small.py" in tree


async def test_a_fifo_cannot_hang_the_hosts_commit(user_repo, tmp_path, attacks):
    """git on the host opens .gitignore without O_NONBLOCK: a FIFO there would hang the
    commit for ever. The sandbox's kernel filter refuses named pipes."""
    run = await agent_run(user_repo, tmp_path, [[bash("rm .gitignore; mkfifo .gitignore; mkfifo /tmp/p; "
                                                      "echo 'x = 1' > new.py; ls -l .gitignore")]],
                          max_wall_seconds=60)
    attacks.check("commit: a FIFO in place of .gitignore hangs the host's git",
                  "Operation not permitted" in run.output(0) and run.record.status.value == "ok"
                  and "new.py" in run_git(user_repo, "ls-tree", "--name-only", run.record.branch), run.output(0))
