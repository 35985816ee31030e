"""Writing the user's own files, or anything out of the run's worktree: by `bash` inside the
sandbox, and by the editor tool, which works on the host (through `..`, absolute paths,
symlinks and hard links the agent made)."""

import os
from pathlib import Path

from battery import agent_run, editor
from support.fingerprint import fingerprint
from support.gitrepo import run_git
from support.script import bash


ORIGINAL = "the user's own text\n"
GIT_STATE = ("index", "HEAD", "HEAD reflog", "refs", "stash list", "refs/stash", "config", "hooks", "info")


async def test_writes_to_the_users_files_land_in_the_worktree_or_nowhere(user_repo, visible, tmp_path, attacks):
    repo = user_repo
    # Files of the user's outside the repo, one per attack, so each attack has its own evidence.
    outside = {name: visible / f"{name}.txt" for name in ("dotdot", "absolute", "link", "hard")}
    for path in outside.values():
        path.write_text(ORIGINAL)
    before = fingerprint(repo)
    turns = [
        [
            bash(f"echo pwned > '{repo}/calc/__init__.py'"),  # 0
            bash(f"echo pwned > '{repo}/../dotdot.txt'"),  # 1
            bash(f"echo pwned > '{outside['absolute']}'"),  # 2
            bash("git commit -qam pwned; git stash; git branch -f main HEAD~1; git update-ref refs/heads/main HEAD~1"),  # 3
            bash(f"ln -s '{repo}/calc/ops.py' calc/alias.py && ln -s '{visible}' out && "
                 f"ln -s '{outside['link']}' link"),  # 4
            bash(f"ln '{outside['hard']}' hard"),  # 5
        ],
        [
            editor("create", "../escape-1.txt", file_text="pwned"),  # 6
            editor("create", str(visible / "escape-2.txt"), file_text="pwned"),  # 7
            editor("create", "calc/../../escape-3.txt", file_text="pwned"),  # 8
            editor("str_replace", "calc/alias.py", old_str="return a - b", new_str="pwned"),  # 9
            editor("create", "out/escape-4.txt", file_text="pwned"),  # 10
            editor("create", "link", file_text="pwned"),  # 11
            editor("insert", "link", insert_line=0, insert_text="pwned"),  # 12
            editor("create", "hard", file_text="pwned"),  # 13
            editor("create", ".git/hooks/post-commit", file_text="#!/bin/sh\necho pwned\n"),  # 14
            editor("create", f"{repo}/calc/new.py", file_text="made = 1\n"),  # 15: allowed
        ],
    ]
    run = await agent_run(repo, tmp_path, turns)

    worktree = Path(run.record.worktree)
    after = fingerprint(repo)

    def untouched(name: str) -> bool:
        return outside[name].read_text() == ORIGINAL

    def user_file(rel: str) -> bool:
        return before["files"][rel] == after["files"].get(rel)

    def escaped(n: int) -> bool:
        return any(visible.rglob(f"escape-{n}.txt"))

    # Positive controls: the writes did land, in the run's own copy; the links the agent made
    # do lead, on the host, to the user's files; and the host could hard-link a file into
    # the worktree (same filesystem), so only the sandbox stops `ln`.
    assert run_git(repo, "show", f"{run.record.branch}:calc/__init__.py") == "pwned"
    assert run_git(repo, "show", f"{run.record.branch}:calc/new.py") == "made = 1"
    assert not run.refused(4) and not run.refused(15)
    assert os.path.realpath(worktree / "calc/alias.py") == str(repo / "calc/ops.py")
    assert os.path.realpath(worktree / "out") == str(visible)
    assert os.path.realpath(worktree / "link") == str(outside["link"])
    os.link(outside["hard"], tmp_path / "host-made-link")

    attacks.check("bash: overwrite a file of the user's repo by its absolute path", user_file("calc/__init__.py"))
    # Outside the worktree, a write fails or lands in the sandbox's own scratch space.
    attacks.check("bash: write a file next to the repo through ..", untouched("dotdot"), run.output(1))
    attacks.check("bash: write a file next to the repo by its absolute path", untouched("absolute"), run.output(2))
    attacks.check("bash: git commit, stash and move the user's branch",
                  run.refused(3) and all(before[k] == after[k] for k in GIT_STATE), run.output(3))
    attacks.check("bash: hard-link a file of the user's into the worktree",
                  run.refused(5) and untouched("hard"), run.output(5))
    for i, how in [(6, "../"), (7, "an absolute path outside the repo"), (8, "calc/../../")]:
        attacks.check(f"editor: create a file out of the worktree with {how}",
                      run.refused(i) and not escaped(i - 5), run.output(i))
    attacks.check("editor: edit the user's real file through a symlink the agent made",
                  run.refused(9) and user_file("calc/ops.py"), run.output(9))
    attacks.check("editor: create a file through a symlinked folder the agent made",
                  run.refused(10) and not escaped(4), run.output(10))
    for i, command in [(11, "create"), (12, "insert")]:
        attacks.check(f"editor: {command} through a symlink to a host file", run.refused(i) and untouched("link"),
                      run.output(i))
    attacks.check("editor: write where the agent tried to hard-link a host file", untouched("hard"), run.output(13))
    attacks.check("editor: write a git hook under .git", run.refused(14) and before["hooks"] == after["hooks"],
                  run.output(14))


async def test_files_the_host_reads_cannot_hang_or_exhaust_it(user_repo, tmp_path, attacks):
    """After the agent, the host reads pyproject.toml and package.json to detect the checks.
    A FIFO there would block that read (the event loop with it) until the run's hard
    deadline; a link to /dev/zero would read until memory runs out. (Unsandboxed: the
    sandbox's kernel filter refuses mkfifo, and the host must hold without it.)"""
    run = await agent_run(user_repo, tmp_path, [[
        bash("mkfifo pyproject.toml && ln -s /dev/zero package.json && echo planted"),
    ]], checks=None, repair_rounds=0, max_wall_seconds=15, sandbox="none")
    names = [n.name for n in run.store.nodes(run.record.id)]
    attacks.check("a FIFO and a link to /dev/zero where the host reads the repo's build files",
                  "planted" in run.output(0) and "check: pytest" in names and "commit" in names, names)
