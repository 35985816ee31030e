"""Blueprints that raise, spin forever or return garbage end the run cleanly with a reason."""

import pytest

from minion.runs.events import log_path, read_events
from minion.errors import MinionError
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.trust import trust_repo
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import write_files
from support.script import write_script

BLUEPRINTS = {
    "raises": "    await run.step('prepare', lambda: None)\n    raise RuntimeError('boom in the blueprint')\n",
    "returns_garbage": "    return 42\n",
    "forgets_await": "    return run.commit()\n",
    "sleeps_forever": "    import asyncio\n    await asyncio.sleep(3600)\n",
    "spins_forever": "    while True:\n        pass\n",
}


def add_blueprint(repo, name, body):
    if (repo / ".minion" / "blueprints" / f"{name}.py").exists():
        return
    write_files(repo, {f".minion/blueprints/{name}.py": (
        "from minion.blueprint import blueprint\n\n"
        f"@blueprint({name!r}, 'a broken blueprint')\nasync def bp(run):\n{body}"
    )})
    trust_repo(repo)  # the user has read it and allowed it (`minion trust`)


async def run_blueprint(repo, tmp_path, name, **flags):
    add_blueprint(repo, name, BLUEPRINTS[name])
    store = RunStore()
    request = RunRequest(task="t", repo=repo, blueprint=name, model=write_script(tmp_path, []), flags=flags)
    return await execute_run(create_run(request, store).id, store)


async def test_a_raising_blueprint_fails_with_its_traceback_in_the_log(repo, tmp_path):
    add_blueprint(repo, "raises", BLUEPRINTS["raises"])
    before = fingerprint(repo)
    final = await run_blueprint(repo, tmp_path, "raises")
    assert final.status is Status.FAILED and "boom in the blueprint" in final.summary
    logged = [e["message"] for e in read_events(log_path(final.id)) if e["type"] == "log"]
    assert any("Traceback" in m and "boom in the blueprint" in m for m in logged)
    assert_unchanged(before, fingerprint(repo))


@pytest.mark.parametrize("name, hint", [("returns_garbage", "returned int"), ("forgets_await", "missing await")])
async def test_a_blueprint_that_returns_a_value_fails_clearly(repo, tmp_path, name, hint):
    final = await run_blueprint(repo, tmp_path, name)
    assert final.status is Status.FAILED and hint in final.summary


async def test_an_awaiting_blueprint_stops_at_the_wall_clock_cap(repo, tmp_path):
    final = await run_blueprint(repo, tmp_path, "sleeps_forever", max_wall_seconds=1)
    assert final.status is Status.CAPPED_TIME


async def test_a_blueprint_blocking_the_loop_is_interrupted(repo, tmp_path, monkeypatch):
    monkeypatch.setattr("minion.engine.execute.HARD_DEADLINE_GRACE_S", 1)
    final = await run_blueprint(repo, tmp_path, "spins_forever", max_wall_seconds=1)
    assert final.status is Status.CAPPED_TIME and "blocked" in final.summary
    assert "spins_forever" in final.error or "while True" in final.error


def test_a_blueprint_file_that_does_not_import_is_a_clear_error(repo, tmp_path):
    write_files(repo, {".minion/blueprints/broken.py": "def oops(:\n"})
    trust_repo(repo)
    with pytest.raises(MinionError, match="broken.py failed to load"):
        create_run(RunRequest(task="t", repo=repo, model=write_script(tmp_path, [])), RunStore())


async def test_a_blueprint_that_exits_at_import_fails_its_run_only(repo, tmp_path):
    """Checking the name reads the file without running it; the code runs in the run itself."""
    write_files(repo, {".minion/blueprints/quits.py": (
        "import sys\nfrom minion.blueprint import blueprint\nsys.exit(3)\n\n"
        "@blueprint('quits', 'exits when imported')\nasync def quits(run):\n    pass\n"
    )})
    trust_repo(repo)
    store = RunStore()
    record = create_run(RunRequest(task="t", repo=repo, blueprint="quits", model=write_script(tmp_path, [])), store)
    with pytest.raises(MinionError, match="quits.py failed to load"):
        await execute_run(record.id, store)
    assert store.get(record.id).status is Status.FAILED
