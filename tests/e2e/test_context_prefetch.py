"""`minion run` builds the repo map beside the worktree's checkout: the context node takes
the map started when the snapshot commit was made, and builds nothing itself."""

import threading

from minion.blueprint import repo_map
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.store import RunStore
from support.script import done, write_script


async def test_the_context_node_takes_the_map_built_beside_the_checkout(repo, tmp_path, monkeypatch):
    built_in = []
    real_build = repo_map._build

    def recording_build(*args):
        built_in.append(threading.current_thread().name)
        return real_build(*args)

    monkeypatch.setattr(repo_map, "_build", recording_build)
    store = RunStore()
    request = RunRequest(task="make add() add", repo=repo, model=write_script(tmp_path, [done()]),
                         flags={"checks": {}})

    record = create_run(request, store, prefetch_context=True)
    final = await execute_run(record.id, store)

    assert built_in == ["minion-repo-map"]  # once, in the prefetch thread
    context = next(n for n in store.nodes(final.id) if n.name == "context")
    assert "repo map 0 chars" not in context.summary
    assert not repo_map._in_flight  # taken, not left behind


async def test_without_prefetch_the_context_node_builds_the_map(repo, tmp_path, monkeypatch):
    built_in = []
    real_build = repo_map._build
    monkeypatch.setattr(repo_map, "_build", lambda *args: built_in.append(1) or real_build(*args))
    store = RunStore()
    request = RunRequest(task="make add() add", repo=repo, model=write_script(tmp_path, [done()]),
                         flags={"checks": {}})

    final = await execute_run(create_run(request, store).id, store)

    assert built_in == [1]
    assert final.status.value == "ok"
