"""Writing the user's own files, or anything out of the run's worktree: by `bash` inside the
sandbox, and by the editor tool, which works on the host (through `..`, absolute paths,
symlinks and hard links the agent made)."""

import os
from pathlib import Path

import pytest

from battery import agent_run, editor
from support.fingerprint import fingerprint
from support.gitrepo import run_git
from support.script import bash


async def test_writes_to_the_users_files_land_in_the_worktree_or_nowhere(user_repo, visible, tmp_path, attacks):
    repo = user_repo
    notes = visible / "notes.txt"  # any file of the user's outside the repo
    notes.write_text("the user's notes\n")
    before = fingerprint(repo)
    turns = [
        [
            bash(f"echo pwned > '{repo}/calc/ops.py'"),  # 0
            bash(f"echo pwned > '{repo}/../notes.txt'"),  # 1
            bash(f"echo pwned > '{notes}'"),  # 2
            bash("git commit -qam pwned; git stash; git branch -f main HEAD~1; git update-ref refs/heads/main HEAD~1"),  # 3
            bash(f"ln -s '{repo}/calc/ops.py' calc/alias.py && ln -s '{visible}' out && ln -s '{notes}' notes-link"),  # 4
            bash(f"ln '{notes}' notes-hardlink"),  # 5
        ],
        [
            editor("create", "../escape.txt", file_text="pwned"),  # 6
            editor("create", str(visible / "escape.txt"), file_text="pwned"),  # 7
            editor("create", "calc/../../escape.txt", file_text="pwned"),  # 8
            editor("str_replace", "calc/alias.py", old_str="return a - b", new_str="pwned"),  # 9
            editor("create", "out/escape.txt", file_text="pwned"),  # 10
            editor("create", "notes-link", file_text="pwned"),  # 11
            editor("insert", "notes-link", insert_line=0, insert_text="pwned"),  # 12
            editor("create", "notes-hardlink", file_text="pwned"),  # 13
            editor("create", ".git/hooks/post-commit", file_text="#!/bin/sh\necho pwned\n"),  # 14
            editor("create", f"{repo}/calc/new.py", file_text="made = 1\n"),  # 15: allowed
        ],
    ]
    run = await agent_run(repo, tmp_path, turns)

    worktree = Path(run.record.worktree)
    user_ops = (repo / "calc/ops.py").read_text()
    unchanged = fingerprint(repo) == before
    escaped = [p for p in (repo.parent / "escape.txt", visible / "escape.txt", visible / "out") if p.exists()]
    # Positive controls: the writes did land, in the run's own copy; the links the agent made
    # do lead, on the host, to the user's files; and the host could hard-link a file into
    # the worktree (same filesystem), so only the sandbox stops `ln`.
    assert run_git(repo, "show", f"{run.record.branch}:calc/ops.py") == "pwned"
    assert run_git(repo, "show", f"{run.record.branch}:calc/new.py") == "made = 1"
    assert not run.refused(15)
    assert os.path.realpath(worktree / "calc/alias.py") == str(repo / "calc/ops.py")
    assert os.path.realpath(worktree / "out") == str(visible)
    assert os.path.realpath(worktree / "notes-link") == str(notes)
    os.link(notes, tmp_path / "host-made-link")

    attacks.check("bash: overwrite a file of the user's repo by its absolute path",
                  user_ops == "def add(a, b):\n    return a - b\n" and unchanged, user_ops)
    for i, how in [(1, "through .."), (2, "by its absolute path")]:
        attacks.check(f"bash: write a file next to the repo {how}",
                      run.refused(i) and notes.read_text() == "the user's notes\n", run.output(i))
    attacks.check("bash: git commit, stash and move the user's branch", run.refused(3) and unchanged, run.output(3))
    attacks.check("bash: hard-link a file of the user's into the worktree",
                  run.refused(5) and "Invalid cross-device link" in run.output(5), run.output(5))
    for i, how in [(6, "../"), (7, "an absolute path outside the repo"), (8, "calc/../../")]:
        attacks.check(f"editor: create a file out of the worktree with {how}", run.refused(i) and not escaped,
                      run.output(i))
    attacks.check("editor: edit the user's real file through a symlink the agent made",
                  run.refused(9) and unchanged, run.output(9))
    attacks.check("editor: create a file through a symlinked folder the agent made",
                  run.refused(10) and not escaped, run.output(10))
    for i, command in [(11, "create"), (12, "insert")]:
        attacks.check(f"editor: {command} through a symlink to a host file",
                      run.refused(i) and notes.read_text() == "the user's notes\n", run.output(i))
    attacks.check("editor: write where the agent tried to hard-link a host file",
                  notes.read_text() == "the user's notes\n", run.output(13))
    attacks.check("editor: write a git hook under .git", run.refused(14) and unchanged, run.output(14))


@pytest.mark.timeout(60)
async def test_files_the_host_reads_cannot_hang_or_exhaust_it(user_repo, tmp_path, attacks):
    """After the agent, the host reads pyproject.toml and package.json to detect the checks.
    A FIFO there would block that read forever (no cap can fire while the event loop is
    stuck); a link to /dev/zero would read until memory runs out."""
    run = await agent_run(user_repo, tmp_path, [[
        bash("mkfifo pyproject.toml && ln -s /dev/zero package.json && echo planted"),
    ]], checks=None, repair_rounds=0)
    names = [n.name for n in run.store.nodes(run.record.id)]
    attacks.check("a FIFO and a link to /dev/zero where the host reads the repo's build files",
                  "planted" in run.output(0) and "check: pytest" in names and "commit" in names, names)
