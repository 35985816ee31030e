"""Planting code for the host to run later: git hooks, git config (core.hooksPath,
core.fsmonitor, filter and textconv drivers), a `.gitattributes` that names a driver, and a
nested repository with its own config. After the run the host commits the worktree and
diffs the branch; none of it may run anything.

Hooks have two guards: `.git` is read-only inside, and minion's host-side git runs with
`core.hooksPath=/dev/null`. Config has one: it is read-only inside. Filters and fsmonitor
need config, so the positive controls show that config, once written on the host, does run
code in the very same host-side commit.
"""

from pathlib import Path

from battery import agent_run
from minion.git import git
from minion.engine.create import snapshot_of
from minion.snapshot import changed_files, commit_result, diff, diffstat, hunks, take_snapshot
from support.gitrepo import make_repo, run_git, write_files
from support.script import bash, tool


async def test_nothing_the_agent_plants_runs_on_the_host(user_repo, visible, tmp_path, attacks):
    repo = user_repo
    ran = visible / "ran"  # read-only inside: only the host can create these markers
    ran.mkdir()

    def touch(name: str) -> str:
        return f"touch {ran}/{name}"

    # The user's repo has a submodule; the run's worktree gets its folder, empty.
    head = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib")
    run_git(repo, "commit", "-qm", "add a submodule")
    hook = "#!/bin/sh\\n" + touch("hook") + "\\n"
    turns = [[
        bash(f"printf '{hook}' > .git/hooks/post-commit"),
        bash(f"printf '{hook}' > /run/minion/git/hooks/reference-transaction"),
        bash(f"git config core.hooksPath '{ran}'"),
        bash(f"git config core.fsmonitor '{touch('fsmonitor')}'"),
        bash(f"printf '[core]\\n\\tfsmonitor = {touch('fsmonitor')}\\n' >> /run/minion/git/config"),
        bash("for d in /run/minion/git/worktrees/*/; do echo '[core] bare = true' >> $d/config.worktree; done"),
        bash(f"echo 'gitdir: {ran}' > .git"),
        bash("printf '* filter=evil diff=evil\\n' > .gitattributes && "
             f"git config filter.evil.clean '{touch('filter')}; cat' && "
             f"git config diff.evil.textconv '{touch('textconv')}; cat'"),
        # At the commit the gitlink records, and dirty: the host's `git add` then runs
        # `git status` inside it to see whether it is modified.
        bash(f"git init -q vendor/lib && cd vendor/lib && git fetch -q --depth=1 /run/minion/git {head} && "
             "git checkout -q FETCH_HEAD && "
             f"git config core.fsmonitor '{touch('nested-fsmonitor')}' && "
             f"git config filter.evil.clean '{touch('nested-filter')}; cat' && "
             "echo '* filter=evil' > .gitattributes && echo dirty >> calc/ops.py && "
             "echo 'edit' >> ../../calc/ops.py"),
    ], [tool("search", pattern="edit")]]
    run = await agent_run(repo, tmp_path, turns)
    # The branch is diffed on the host as the CLI and the editor do; then the worktree is
    # committed once more, as a blueprint that commits twice or a resumed run does: git
    # looks inside a nested repository when its gitlink is already staged.
    base, branch = run.record.base, run.record.branch
    changed_files(repo, base, branch), diff(repo, base, branch), diffstat(repo, base, branch), hunks(repo, base, branch)
    commit_result(snapshot_of(run.record), branch=branch, message="once more")
    markers = sorted(p.name for p in ran.iterdir())

    # The host-side commit did happen, with the agent's .gitattributes in it.
    assert "edit" in run_git(repo, "show", f"{branch}:calc/ops.py")
    assert run_git(repo, "show", f"{branch}:.gitattributes") == "* filter=evil diff=evil"
    planted = ["write .git/hooks/post-commit", "write a hook into the user's .git",
               "git config core.hooksPath", "git config core.fsmonitor", "append to the user's .git/config",
               "append to the worktree's config.worktree"]
    for i, name in enumerate(planted):
        attacks.check(f"bash: {name}", run.refused(i) and not {"hook", "fsmonitor"} & set(markers), run.output(i))
    pointer = (Path(run.record.worktree) / ".git").read_text()
    attacks.check("bash: point the worktree's .git elsewhere", run.refused(6) and str(ran) not in pointer, pointer)
    attacks.check("a .gitattributes filter/textconv driver for the host-side commit and diff",
                  run.refused(7) and not {"filter", "textconv"} & set(markers), (run.output(7), markers))
    nested = {"nested-fsmonitor", "nested-filter"}
    attacks.check("a nested repository whose config runs code when the host stages it",
                  not nested & set(markers), (run.output(8), markers))
    attacks.check("the search tool's host-side git in a tree with the nested repository",
                  not run.refused(9) and not nested & set(markers), markers)

    # Positive control: staging as minion did before it left gitlinks alone runs the
    # nested repository's fsmonitor and filter on the host.
    # (The commit guard took the new gitlink out of the index: put it back first.)
    worktree = Path(run.record.worktree)
    git("update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib", cwd=worktree)
    git("add", "-A", cwd=worktree)
    assert nested <= {p.name for p in ran.iterdir()}, run.output(8)


def test_control_config_written_on_the_host_does_run_in_the_host_side_commit(visible):
    """What the read-only config prevents: the same drivers, once in the user's config."""
    repo = make_repo(visible / "control repo")
    ran = visible / "ran"
    run_git(repo, "config", "core.fsmonitor", f"touch '{ran}-fsmonitor'")
    run_git(repo, "config", "filter.evil.clean", f"touch '{ran}-filter'; cat")
    snapshot = take_snapshot(repo, "control", worktrees_dir=visible / "worktrees")
    write_files(snapshot.worktree, {".gitattributes": "* filter=evil\n", "calc/ops.py": "changed\n"})
    commit_result(snapshot, branch="minion/control", message="control")
    assert Path(f"{ran}-fsmonitor").exists() and Path(f"{ran}-filter").exists()
