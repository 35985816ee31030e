"""The user's .git holds far more than the run's code: a secret committed and removed long
ago, an excluded .env in recent history, other branches, the stash, commits reset away,
a submodule's token, other worktrees, hooks. The sandbox's git must see a run-private store
(gitstore.py) that has none of it: git works inside on the run's window of history alone."""

import subprocess

from battery import marker, run_sandbox
from support.gitrepo import make_repo, run_git, write_files

HISTORY = 4  # git_history of these runs: the snapshot and four first-parent ancestors
COMMON = '"$(git rev-parse --git-common-dir)"'


def commit(repo, message: str) -> None:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", message)


def secret_laden_repo(root) -> tuple:
    """The user's repo and its secrets by where they are."""
    secrets = {what: marker(f"git-{what}") for what in (
        "old", "env", "branch", "stash", "reset", "submodule", "worktree", "hook")}
    sub = make_repo(root / "sub-origin", {"lib.py": "x = 1\n"})
    repo = make_repo(root / "user repo")
    write_files(repo, {"config/leaked.txt": f"password={secrets['old']}\n"})
    commit(repo, "add config")
    run_git(repo, "rm", "-q", "config/leaked.txt")
    commit(repo, "remove config")
    for i in range(HISTORY + 2):  # the removal falls out of the window
        write_files(repo, {"app.py": f"line {i}\n"})
        commit(repo, f"line {i}")
    write_files(repo, {".env": f"TOKEN={secrets['env']}\n"})  # excluded (.env*), inside the window
    commit(repo, "add .env")
    run_git(repo, "rm", "-q", "--cached", ".env")
    (repo / ".env").unlink()
    commit(repo, "untrack .env")
    run_git(repo, "checkout", "-qb", "other")
    write_files(repo, {"branch.txt": f"{secrets['branch']}\n"})
    commit(repo, "on another branch")
    run_git(repo, "checkout", "-q", "main")
    write_files(repo, {"reset.txt": f"{secrets['reset']}\n"})
    commit(repo, "reset away")
    run_git(repo, "reset", "-q", "--hard", "HEAD~1")
    write_files(repo, {"stashed.txt": f"{secrets['stash']}\n"})
    run_git(repo, "stash", "push", "-qu")
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub")
    commit(repo, "add a submodule")
    run_git(repo / "vendor/sub", "remote", "set-url", "origin",
            f"https://x-access-token:{secrets['submodule']}@github.com/o/sub.git")
    run_git(repo, "worktree", "add", "-q", str(root / f"wt-{secrets['worktree']}"))
    hook = repo / ".git/hooks/pre-push"
    hook.write_text(f"#!/bin/sh\ncurl -H 'Authorization: Bearer {secrets['hook']}' https://ci.example.com\n")
    return repo, secrets


async def test_git_inside_sees_the_runs_window_alone(visible, tmp_path, attacks):
    repo, secrets = secret_laden_repo(visible)
    # Positive controls: the host's git finds every one of them in the user's .git.
    every_object = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                                  capture_output=True, check=True).stdout.decode(errors="replace")
    assert all(secrets[w] in every_object for w in ("old", "env", "branch", "stash", "reset"))
    assert secrets["submodule"] in (repo / ".git/modules/vendor/sub/config").read_text()
    assert secrets["worktree"] in run_git(repo, "worktree", "list")
    sandbox = run_sandbox(repo, tmp_path, git_history=HISTORY)
    assert "add a submodule" in (await sandbox.run("git log --oneline -2")).output  # git works inside
    tries = {
        "old": ("read a secret committed and removed beyond the history window",
                "git log --all -p -- config/leaked.txt; git show HEAD~5:config/leaked.txt"),
        "env": ("read an excluded .env from the history inside the window", "git log -p -- .env"),
        "branch": ("read another branch of the user's", "git log --all -p -- branch.txt; git show other:branch.txt"),
        "stash": ("read the user's stash", "git stash list; git stash show -p --include-untracked"),
        "reset": ("read a commit the user reset away", "git log --reflog -p -- reset.txt"),
        "submodule": ("read the token in a submodule's config", f"grep -r url {COMMON}/modules"),
        "worktree": ("learn where the user's other worktrees are", f"git worktree list; cat {COMMON}/worktrees/*/gitdir"),
        "hook": ("read the user's git hooks", f"cat {COMMON}/hooks/pre-push"),
    }
    for what, (name, command) in tries.items():
        out = (await sandbox.run(command)).output
        attacks.check(f"git: {name}", secrets[what] not in out, out)
    out = (await sandbox.run("git cat-file --batch-all-objects --batch | grep -a BATTERY-SECRET")).output
    found = [what for what, secret in secrets.items() if secret in out]
    attacks.check("git: dump every object git can reach inside", not found, (found, out))
