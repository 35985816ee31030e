"""Secrets in the user's repo: ignored files never enter a snapshot; tracked files matching
the `exclude` list (default `.env*`, `*.pem`, `id_*`) stay out of the sandbox's and the
tools' view unless the repo opts in; known secret shapes that a command prints are
redacted from the event log, the run store and `minion show`."""

import os
import subprocess
import sys

from battery import agent_run, editor, marker
from minion.runs.events import log_path
from minion.state import state_dir
from support.gitrepo import run_git, write_files
from support.script import bash, text, tool

SECRET_FILES = [".env", "config/server.pem", "deploy/id_rsa"]


def on_branch(repo, branch: str, path: str) -> str | None:
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{branch}:{path}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def object_store(repo) -> str:
    """Every object in the user's repository, uncompressed."""
    return subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                          capture_output=True).stdout.decode("utf-8", "replace")


async def test_ignored_files_are_never_in_a_snapshot(user_repo, tmp_path, attacks):
    repo = user_repo
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("secrets/\n*.key\n")
    run_git(repo, "commit", "-qam", "ignore secrets")
    ignored = {"secrets/prod.json": marker("ignored-json"), "deploy.key": marker("ignored-key"),
               "debug.log": marker("ignored-log")}
    write_files(repo, {rel: f"{value}\n" for rel, value in ignored.items()})
    run = await agent_run(repo, tmp_path, [[
        bash(f"cat '{repo}/secrets/prod.json' deploy.key debug.log"),
        bash("grep -r BATTERY-SECRET . /run/minion/git"),
        editor("view", "secrets/prod.json"),
        tool("search", pattern="BATTERY-SECRET"),
    ]])

    def leaks(text: str) -> list[str]:
        return [rel for rel, value in ignored.items() if value in text]

    snapshot_files = run_git(repo, "ls-tree", "-r", "--name-only", run.record.snapshot).split("\n")
    assert "calc/ops.py" in snapshot_files and (repo / "secrets/prod.json").is_file()  # positive controls
    attacks.check("an ignored file in the snapshot", not set(ignored) & set(snapshot_files)
                  and not leaks(object_store(repo)), snapshot_files)
    for i, name in enumerate(["bash: read the repo's ignored files", "bash: grep the worktree and git's objects",
                              "editor: view an ignored file", "search: the repo for the ignored secrets"]):
        attacks.check(name, not leaks(run.output(i)), run.output(i))


async def test_tracked_secret_files_stay_out_of_the_sandbox(user_repo, tmp_path, attacks):
    repo = user_repo
    committed = {rel: f"{marker(rel.replace('/', '_'))}\n" for rel in SECRET_FILES}
    write_files(repo, committed)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "secrets, tracked")
    dirty, untracked, buffer = marker("dirty"), marker("untracked"), marker("buffer")
    write_files(repo, {".env": f"{dirty}\n", ".env.local": f"{untracked}\n"})
    values = [*committed.values(), dirty, untracked, buffer]
    read_all = "cat " + " ".join([*SECRET_FILES, ".env.local"])
    turns = [[
        bash(read_all),
        editor("view", ".env"),
        tool("search", pattern="BATTERY-SECRET"),
        bash("git status --porcelain; echo replaced > .env; rm -f deploy/id_rsa; echo '# tidy' >> calc/ops.py"),
    ]]
    run = await agent_run(repo, tmp_path, turns, buffers={"config/server.pem": buffer},
                          checks={"leak": read_all})

    def leaks(text: str) -> list[str]:
        return [value for value in values if value in text]

    branch = run.record.branch
    kept = {rel: on_branch(repo, branch, rel) for rel in SECRET_FILES}
    # The hidden files do not show as deleted to git inside, and the commit took the agent's
    # other change.
    assert run.output(3) == "[exit code 0]", run.output(3)
    assert run_git(repo, "show", f"{branch}:calc/ops.py").endswith("# tidy")
    for i, name in enumerate(["bash: read tracked, dirty and untracked secret files", "editor: view .env",
                              "search: the repo for secrets"]):
        attacks.check(name, not leaks(run.output(i)), run.output(i))
    check_output = run.record.checks[0].output
    attacks.check("a check reads the secret files", not leaks(check_output), check_output)
    attacks.check("the branch keeps the tracked secrets as they were committed, whatever the agent did",
                  kept == committed and on_branch(repo, branch, ".env.local") is None, kept)
    attacks.check("minion copies dirty, untracked or unsaved secret bytes into git's objects",
                  not {dirty, untracked, buffer} & set(leaks(object_store(repo))))

    # Positive control: a repo that opts in (exclude = []) shows them to the agent.
    write_files(repo, {".minion/config.toml": "exclude = []\n"})
    opted_in = await agent_run(repo, tmp_path, [[bash(read_all)]])
    assert dirty in opted_in.output(0) and untracked in opted_in.output(0)


async def test_secret_shapes_a_command_prints_are_redacted_everywhere(user_repo, tmp_path, attacks):
    aws_key = "AKIA" + "Z7Q2VJ4XK8M3N5P6"
    github_token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
    repo = user_repo
    write_files(repo, {"deploy/settings.py": f"AWS_ACCESS_KEY_ID = '{aws_key}'\nTOKEN = '{github_token}'\n"})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "settings")
    run = await agent_run(repo, tmp_path, [[
        text("Let me look at the settings."),
        bash("cat deploy/settings.py"),
        bash(f"printf 'AKIA%s\\n' {aws_key[4:]}"),  # the key appears only in the output
    ]], checks={"settings": "cat deploy/settings.py; exit 1"}, repair_rounds=0)  # `show` prints a failed check

    env = {**os.environ, "COLUMNS": "500"}
    cli = {args: subprocess.run([sys.executable, "-m", "minion.cli", *args, run.record.id], capture_output=True,
                                text=True, env=env).stdout for args in [("show",), ("show", "--json"), ("logs",)]}
    places = {
        "the JSONL event log": log_path(run.record.id).read_text(),
        "the run store (runs.db and its WAL)": b"".join(p.read_bytes() for p in state_dir().glob("runs.db*"))
        .decode("utf-8", "replace"),
        **{f"minion {' '.join(args)}": output for args, output in cli.items()},
    }
    for place, content in places.items():
        attacks.check(f"an AWS key and a GitHub token printed by a command, in {place}",
                      aws_key not in content and github_token not in content)
    # Positive control: the secrets did reach every place, masked.
    assert all("[REDACTED]" in content for content in places.values()), places
