"""A run from the CLI on the fleet: the same branch as a local run of the same script, its
progress seen by the client, the user's repository untouched but for the fetched branch,
and nothing of the repository's files or the API key in Temporal's history."""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import PYTEST, bash, done, replace, text, write_script

from minion.runs.events import log_path, read_events
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.testing import create

FIX_ADD = replace("calc/ops.py", "return a - b", "return a + b")
SECRET = "sk-ant-fleet-test-0123456789abcdefghijklmnopqrstuv"


def minion(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minion", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=240)


def use_checks(config_home) -> None:
    config = config_home / "minion" / "config.toml"
    config.write_text(config.read_text() + f'checks = {{ tests = "{PYTEST}" }}\n')


def test_a_cli_run_on_the_fleet_ends_as_a_local_run_does(repo, tmp_path, start_worker, fleet_env, fleet_remote):
    use_checks(_config_home())
    worker = start_worker("w1", env={"ANTHROPIC_API_KEY": SECRET})
    before = fingerprint(repo)
    script = [[text("Fix the operator."), FIX_ADD], done("add() now adds.")]
    (tmp_path / "fleet").mkdir()
    (tmp_path / "local").mkdir()

    ran = minion("run", "make the tests pass", "--model", write_script(tmp_path / "fleet", script),
                 "--executor", "temporal", "--json", cwd=repo)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "ok", result
    assert result["files"] == ["calc/ops.py"]
    # Progress reached the client as the run went: each node's end, on the terminal.
    for node in ("context", "implement", "check: tests", "commit"):
        assert f"{node}" in ran.stderr, ran.stderr

    # The branch is in the user's repository, and nothing else of theirs changed.
    branch = result["branch"]
    assert run_git(repo, "rev-parse", f"refs/heads/{branch}") == result["head"]
    assert_unchanged(before, fingerprint(repo))
    assert run_git(repo, "for-each-ref", "--format=%(refname)", "refs/remotes") == ""

    # The same script run locally ends with the same content on its branch.
    local = minion("run", "make the tests pass", "--model", write_script(tmp_path / "local", script), "--json",
                   cwd=repo)
    assert local.returncode == 0, local.stderr
    local_result = json.loads(local.stdout)
    assert run_git(repo, "rev-parse", f"{branch}^{{tree}}") == run_git(repo, "rev-parse",
                                                                     f"{local_result['branch']}^{{tree}}")

    # list / show / logs read the fleet run as a local one.
    store = RunStore()
    record = store.get(result["id"])
    assert record.status is Status.OK and record.head == result["head"]
    assert [n.name for n in store.nodes(record.id)] == ["context", "implement", "check: tests", "commit"]
    assert [c.ok for c in record.checks] == [True]
    types = [e["type"] for e in read_events(log_path(record.id))]
    assert types[0] == "run.start" and types[-1] == "run.end" and "agent.tool" in types
    # ... beside the local run, with the worker it ran on and its page in Temporal's web UI.
    workflow = f"minion-run-{result['id']}"
    page = f"/namespaces/default/workflows/{workflow}"
    assert result["fleet"]["worker"] == "w1" and result["fleet"]["workflow_id"] == workflow
    assert result["fleet"]["web_ui"].endswith(page) and local_result["fleet"] is None
    listed = minion("list", "--json", cwd=repo)
    assert {r["id"]: (r["fleet"] or {}).get("worker") for r in json.loads(listed.stdout)} == {
        result["id"]: "w1", local_result["id"]: None}
    rows = {line.split()[0]: line.split() for line in minion("list", cwd=repo).stdout.splitlines()}
    assert "ran" in rows["id"] and "w1" in rows[result["id"]] and "local" in rows[local_result["id"]], rows
    shown = minion("show", result["id"], cwd=repo)
    assert shown.returncode == 0 and "implement" in shown.stdout
    assert f"ran on w1 · workflow {workflow} · http" in shown.stdout and page in shown.stdout, shown.stdout

    # The run ran on the worker, in its own state dir: its store has it. Once it came home,
    # the fleet remote keeps only its branch, and the worker's mirror nothing of it.
    with_worker_state = {**os.environ, "MINION_STATE_DIR": str(worker.state)}
    on_worker = subprocess.run([sys.executable, "-m", "minion", "show", result["id"], "--json"], capture_output=True,
                               text=True, env=with_worker_state, cwd=tmp_path)
    assert on_worker.returncode == 0 and json.loads(on_worker.stdout)["status"] == "ok", on_worker.stderr
    [mirror] = (worker.state / "fleet" / "mirrors").iterdir()
    refs_of = {"remote": fleet_remote, "mirror": mirror}
    left = {}
    deadline = time.monotonic() + 20  # the worker cleans up after the run's result went back
    while time.monotonic() < deadline:
        left = {where: run_git(path, "for-each-ref", "--format=%(refname)").splitlines()
                for where, path in refs_of.items()}
        if left == {"remote": [f"refs/heads/{branch}"], "mirror": []}:
            break
        time.sleep(0.2)
    assert left == {"remote": [f"refs/heads/{branch}"], "mirror": []}, left
    worktree = Path(json.loads(on_worker.stdout)["worktree"] or worker.state / "worktrees" / result["id"])
    assert worktree.is_relative_to(worker.state) and not worktree.exists()

    # Temporal's history of the run carries ids and refs: no file of the repository, no key.
    history = asyncio.run(_history(fleet_env["MINION_TEMPORAL_ADDRESS"], f"minion-run-{result['id']}"))
    assert SECRET not in history
    assert "return a + b" not in history and "return a - b" not in history and "assert add(2, 3)" not in history
    assert f"refs/minion/snapshots/{result['id']}" in history


def _config_home():
    return Path(os.environ["XDG_CONFIG_HOME"])


async def _history(address: str, workflow_id: str) -> str:
    """Every payload of the workflow's history (inputs, results, signals, heartbeats), decoded."""
    from temporalio.client import Client

    client = await Client.connect(address)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    decoded: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            if "data" in value and "metadata" in value:  # a Payload: its data is base64
                decoded.append(base64.b64decode(value["data"]).decode("utf-8", "replace"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(history.to_json()))
    assert decoded, "no payload found in the history"
    return "\n".join(decoded)


def test_a_run_goes_on_when_its_client_goes_away_and_attach_brings_it_home(repo, tmp_path, start_worker, fleet_env):
    start_worker("w2")
    before = fingerprint(repo)
    model = write_script(tmp_path, [[text("Fix the operator."), FIX_ADD], [bash("sleep 4")], done("add() now adds.")])
    client = subprocess.Popen([sys.executable, "-m", "minion", "run", "fix add", "--model", model,
                               "--executor", "temporal", "--json"], cwd=repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, **fleet_env})
    store = RunStore()
    deadline = time.monotonic() + 120
    while not (running := [r for r in store.recent() if r.status is Status.RUNNING]):
        assert client.poll() is None and time.monotonic() < deadline, "the run never started on the worker"
        time.sleep(0.1)
    [record] = running
    client.kill()  # the client goes away (an editor closed, a laptop lid shut)
    client.wait()

    # The run goes on: it ends on the worker, its branch on the fleet remote.
    outcome = asyncio.run(_result(fleet_env["MINION_TEMPORAL_ADDRESS"], f"minion-run-{record.id}"))
    assert outcome["status"] == "ok" and outcome["branch_pushed"], outcome
    assert run_git(repo, "for-each-ref", f"refs/heads/{record.branch}") == ""  # not home yet

    attached = minion("fleet", "attach", record.id, "--json", cwd=repo)
    assert attached.returncode == 0, attached.stderr
    result = json.loads(attached.stdout)
    assert result["status"] == "ok" and result["files"] == ["calc/ops.py"]
    assert "return a + b" in run_git(repo, "show", f"{record.branch}:calc/ops.py")
    assert store.get(record.id).status is Status.OK
    assert_unchanged(before, fingerprint(repo))


async def _result(address: str, workflow_id: str) -> dict:
    from temporalio.client import Client

    client = await Client.connect(address)
    return await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 120)


def test_a_warm_worker_refills_its_worktree_pool_and_the_next_run_takes_from_it(repo, tmp_path, start_worker,
                                                                                 fleet_env):
    config = tmp_path / "worker config"
    (config / "minion").mkdir(parents=True)
    (config / "minion" / "config.toml").write_text("warm = true\nstandby = 0\npool_size = 1\n")
    worker = start_worker("p1", env={"XDG_CONFIG_HOME": str(config)})

    def ready_slots() -> list[str]:
        return sorted(marker.stem for marker in (worker.state / "pool").glob("*/*.ready"))

    def pool_after(run_id: str) -> list[str]:
        deadline = time.monotonic() + 30  # the worker refills it after the run's result went back
        while not (slots := ready_slots()) or RunStore(worker.state / "runs.db").get(run_id).worktree:
            assert time.monotonic() < deadline, slots
            time.sleep(0.2)
        return slots

    first_slots, heads = [], []
    for n in range(2):
        (tmp_path / f"run {n}").mkdir()
        ran = minion("run", f"note {n}", "--model", write_script(tmp_path / f"run {n}", [
            [text("Note it."), create(f"note{n}.txt", f"{n}\n")], done()]), "--executor", "temporal", "--json",
            cwd=repo)
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert result["status"] == "ok" and result["files"] == [f"note{n}.txt"], result
        heads.append(result["head"])
        first_slots.append(pool_after(result["id"]))
    [one], [two] = first_slots
    assert one != two  # the second run took the first's ready worktree; the worker checked out another
    assert run_git(repo, "show", f"{heads[1]}:note1.txt") == "1"


def test_a_run_told_to_execute_here_does_so_when_the_user_config_says_temporal(repo, tmp_path):
    """`--executor local` over executor = "temporal" in the user config: the run is
    checked out and executed on this machine, and its record says so (no fleet is asked)."""
    config = _config_home() / "minion" / "config.toml"
    config.write_text(config.read_text() + 'executor = "temporal"\n')
    before = fingerprint(repo)
    ran = minion("run", "fix add", "--executor", "local", "--json", "--model",
                 write_script(tmp_path, [[text("Fix it."), FIX_ADD], done("fixed")]), cwd=repo)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "ok" and result["files"] == ["calc/ops.py"] and result["fleet"] is None, result
    record = RunStore().get(result["id"])
    assert_unchanged(before, fingerprint(repo))
    assert record.settings.executor == "local" and record.worktree and Path(record.worktree).is_dir()


async def test_a_run_made_for_the_fleet_never_executes_in_the_current_folder(repo, tmp_path, monkeypatch):
    from minion.engine.create import RunRequest, create_run
    from minion.engine.execute import execute_run
    from minion.errors import MinionError

    monkeypatch.chdir(repo)  # the folder a run without a worktree would otherwise work in
    before = fingerprint(repo)
    store = RunStore()
    record = create_run(RunRequest(task="fix add", repo=repo, model=write_script(tmp_path, [[FIX_ADD], done()]),
                                   flags={"executor": "temporal", "checks": {}}), store)
    with pytest.raises(MinionError, match="has no worktree on this machine"):
        await execute_run(record.id, store)
    assert store.get(record.id).status is Status.FAILED
    assert_unchanged(before, fingerprint(repo))
