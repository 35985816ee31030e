"""`minion run` builds the repo map beside the worktree's checkout: the context node takes
the map started when the snapshot commit was made, and builds nothing itself. On a cold
cache the map is time-boxed, and the rest is parsed into the cache beside the run."""

import threading

from minion.blueprint import repo_map
from minion.context import RepoMapCache, build_repo_map, repomap
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.store import RunStore
from minion.state import tags_cache
from support.repomap_workers import hold_back_workers, use_workers
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


async def test_a_cold_run_starts_with_the_map_parsed_in_time_and_caches_the_rest(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(repo_map, "PARSE_SECONDS", 0)
    use_workers(monkeypatch)
    release = hold_back_workers(monkeypatch)  # slower than the time box: nothing is parsed in it
    indexing = []  # the background parse's future, which the run leaves running
    real_finish = repomap._finish_in_background

    def recording_finish(*args):
        indexing.append(real_finish(*args))
        return indexing[-1]

    monkeypatch.setattr(repomap, "_finish_in_background", recording_finish)
    store = RunStore()
    request = RunRequest(task="make add() add", repo=repo, model=write_script(tmp_path, [done()]),
                         flags={"checks": {}})

    try:
        final = await execute_run(create_run(request, store, prefetch_context=True).id, store)
    finally:
        release.set()

    assert final.status.value == "ok"
    context = next(n for n in store.nodes(final.id) if n.name == "context")
    system = "\n".join(block["text"] for block in context.result["system"])
    assert "(3 of 3 files not indexed yet: not shown)" in system
    [background] = indexing
    background.result(timeout=60)
    cache = RepoMapCache(tags_cache())
    text = build_repo_map(repo, tree=final.snapshot, cache=cache, parse_seconds=0)
    assert cache.parsed == 0 and "def add(a, b):" in text and "not indexed" not in text
