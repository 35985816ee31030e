"""End-to-end runs: real git, real bubblewrap, real SQLite, the scripted model."""

import json
import os
import subprocess
import sys

from pathlib import Path

from minion.runs.events import log_path, read_events
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.trust import trust_repo
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git, write_files
from support.script import PYTEST, bash, done, replace, text, write_script

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")


async def run_task(repo, model, task="make the tests pass", **flags):
    store = RunStore()
    record = create_run(
        RunRequest(task=task, repo=repo, model=model, flags={"checks": {"tests": PYTEST}, **flags}), store
    )
    final = await execute_run(record.id, store)
    return final, store


async def test_fixing_a_failing_test_ends_ok_with_exactly_the_scripted_edit(repo, tmp_path):
    before = fingerprint(repo)
    model = write_script(tmp_path, [[text("Fix the operator."), FIX_ADD], done("add() now adds.")])
    final, store = await run_task(repo, model)

    assert final.status is Status.OK, final.error
    assert final.files == ["calc/ops.py"]
    diff = run_git(repo, "diff", final.base, final.branch)
    changed = [l for l in diff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    assert changed == ["-    return a - b", "+    return a + b"]
    assert [c.ok for c in final.checks] == [True]
    message = run_git(repo, "log", "-1", "--format=%an%n%B", final.branch)
    assert message.startswith("minion\nminion: make the tests pass") and f"Minion-Run: {final.id}" in message
    assert [n.name for n in store.nodes(final.id)] == ["context", "implement", "check: tests", "commit"]
    assert_unchanged(before, fingerprint(repo))


async def test_checks_that_keep_failing_end_failed_checks_after_two_repairs(repo, tmp_path):
    before = fingerprint(repo)
    model = write_script(tmp_path, [done("I tried."), done("Tried again."), done("Still no.")])
    final, store = await run_task(repo, model)

    assert final.status is Status.FAILED_CHECKS
    names = [n.name for n in store.nodes(final.id)]
    assert names == ["context", "implement", "check: tests", "repair 1", "check: tests", "repair 2", "check: tests", "commit"]
    assert not final.checks[0].ok and "assert" in final.checks[0].output
    # Nothing changed, so the run leaves no branch.
    assert not run_git(repo, "for-each-ref", f"refs/heads/{final.branch}") and final.files == []
    assert_unchanged(before, fingerprint(repo))


async def test_snapshot_holds_dirty_state_and_unsaved_buffer_not_disk(repo, tmp_path):
    write_files(repo, {"staged.py": "staged = 1\n", "calc/ops.py": "def add(a, b):\n    return a - b  # disk\n"})
    run_git(repo, "add", "staged.py")
    write_files(repo, {"untracked.py": "u = 1\n", "debug.log": "ignored\n", "tests/test_ops.py": "# unstaged edit\n"})
    buffer_text = "def add(a, b):\n    return a - b  # buffer\n"
    before = fingerprint(repo)
    model = write_script(tmp_path, [[replace("calc/ops.py", "return a - b  # buffer", "return a + b  # buffer")], done()])
    store = RunStore()
    record = create_run(RunRequest(task="fix add", repo=repo, model=model, buffers={"calc/ops.py": buffer_text},
                                   flags={"checks": {}}), store)
    snap = record.snapshot
    assert run_git(repo, "show", f"{snap}:calc/ops.py") + "\n" == buffer_text
    assert run_git(repo, "show", f"{snap}:staged.py") == "staged = 1"
    assert run_git(repo, "show", f"{snap}:untracked.py") == "u = 1"
    assert run_git(repo, "show", f"{snap}:tests/test_ops.py") == "# unstaged edit"
    assert "debug.log" not in run_git(repo, "ls-tree", "-r", "--name-only", snap)
    final = await execute_run(record.id, store)
    assert final.status is Status.OK, final.error
    assert "return a + b  # buffer" in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    assert_unchanged(before, fingerprint(repo))


async def test_attacks_from_the_agent_fail_safely_and_the_run_goes_on(repo, tmp_path):
    """Each command fails inside the sandbox; the agent gets an error result and carries on."""
    secret_key = "sk-ant-api03-testsecretvalue1234567890"
    os.environ["ANTHROPIC_API_KEY"] = secret_key
    try:
        before = fingerprint(repo)
        attacks = [
            f"echo pwned > {Path.home()}/minion-escape-probe",
            "echo pwned >> /etc/hosts",
            "echo \"key=$ANTHROPIC_API_KEY\"; test -n \"$ANTHROPIC_API_KEY\"",
            "echo 'echo hacked' > .git/hooks/post-commit && chmod +x .git/hooks/post-commit",
            "git config core.hooksPath /tmp/evil",
        ]
        model = write_script(tmp_path, [[bash(a) for a in attacks], [FIX_ADD], done("fixed despite all")])
        final, store = await run_task(repo, model)
    finally:
        del os.environ["ANTHROPIC_API_KEY"]

    assert final.status is Status.OK, final.error
    results = [e for e in read_events(log_path(final.id)) if e["type"] == "agent.tool_result"][: len(attacks)]
    assert all(r["is_error"] for r in results), [r["output"] for r in results if not r["is_error"]]
    assert not (repo.parent / "escaped.txt").exists()
    assert not (Path.home() / "minion-escape-probe").exists()
    assert "pwned" not in Path("/etc/hosts").read_text()
    assert secret_key not in log_path(final.id).read_text()
    assert_unchanged(before, fingerprint(repo))


async def test_a_script_that_runs_out_of_turns_fails_clearly(repo, tmp_path):
    model = write_script(tmp_path, [[FIX_ADD]])
    final, _ = await run_task(repo, model)
    assert final.status is Status.FAILED
    assert "no more turns" in final.summary
    # The work so far is on the branch.
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")


async def test_turn_cap_stops_the_run_and_keeps_the_work(repo, tmp_path):
    model = write_script(tmp_path, [[FIX_ADD], [bash("true")], [bash("true")], done()])
    final, _ = await run_task(repo, model, max_turns=2)
    assert final.status is Status.CAPPED_TURNS
    assert "return a + b" in run_git(repo, "show", f"{final.branch}:calc/ops.py")


async def test_repo_blueprint_overrides_builtin(repo, tmp_path):
    write_files(repo, {".minion/blueprints/mine.py": (
        "from minion.blueprint import blueprint\n\n"
        "@blueprint('default', 'just commit')\n"
        "async def only_commit(run):\n"
        "    await run.step('note', lambda: None)\n"
        "    await run.commit()\n"
    )})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "blueprint")
    trust_repo(repo)  # the user has read it and allowed it (`minion trust`)
    model = write_script(tmp_path, [])
    final, store = await run_task(repo, model)
    assert final.status is Status.OK
    assert [n.name for n in store.nodes(final.id)] == ["note", "commit"]


def minion(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_exit_codes_and_json(repo, tmp_path):
    good = write_script(tmp_path, [[FIX_ADD], done()], "good.json")
    result = minion("run", "--repo", str(repo), "--model", good, "--json", "fix add")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"id", "status", "branch", "base", "files", "checks", "usage"} <= data.keys()
    assert data["status"] == "ok" and data["files"] == ["calc/ops.py"]

    lazy = write_script(tmp_path, [done(), done(), done()], "lazy.json")
    assert minion("run", "--repo", str(repo), "--model", lazy, "fix add").returncode == 1

    not_repo = minion("run", "--repo", str(tmp_path), "--model", good, "x")
    assert not_repo.returncode == 2 and "not a git repository" in not_repo.stderr.lower()
    as_json = minion("run", "--json", "--repo", str(tmp_path), "--model", good, "x")
    assert json.loads(as_json.stdout)["exit_code"] == 2 and "not a git repository" in as_json.stdout.lower()
    bad_model = minion("run", "--repo", str(repo), "--model", "gpt:4", "x")
    assert bad_model.returncode == 2 and "unknown model spec" in bad_model.stderr
    assert minion("run", "--repo", str(repo), "--model", good, "  ").returncode == 2
    assert minion("show", "nosuchrun").returncode == 2

    listed = minion("list", "--json", "--repo", str(repo))
    assert data["id"] in listed.stdout
    assert minion("show", data["id"]).returncode == 0


def test_demo_runs_offline_and_repairs_once():
    result = minion("demo", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and data["files"] == ["shop/cart.py"]
    assert "scripted" in result.stderr
    log = read_events(Path(data["log"]))
    checks = [e["status"] for e in log if e["type"] == "node.end" and e["kind"] == "check"]
    assert checks == ["failed", "ok"]
