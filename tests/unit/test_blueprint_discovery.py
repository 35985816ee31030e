"""One rule of what a blueprint is: the language server's reading of a file (no code runs)
and the worker's loading of it agree, for every way of declaring one. A file either loads
with exactly the names the reading found, or fails to load with an error naming the
blueprint: a name the server offers is always one the worker finds."""

import pytest
from support.gitrepo import make_repo

from minion.blueprint.registry import _load_source, declarations, declared_names, load_blueprints
from minion.errors import MinionError
from minion.trust import trust_repo

BODY = "    await run.commit()\n"

AGREE = {
    "plain": ("from minion.blueprint import blueprint\n\n@blueprint('a', 'does a')\nasync def a(run):\n" + BODY,
              {"a"}),
    "module alias": ("import minion.blueprint as bp\n\n@bp.blueprint('a', 'does a')\n"
                     "async def a(run: bp.Run) -> None:\n" + BODY, {"a"}),
    "full path": ("import minion.blueprint\n\n@minion.blueprint.blueprint('a')\nasync def a(run):\n" + BODY, {"a"}),
    "keywords": ("from minion.blueprint import blueprint\n\n@blueprint(name='a', description='does a')\n"
                 "async def a(run):\n" + BODY, {"a"}),
    "stacked decorator": (
        "import functools\nfrom minion.blueprint import blueprint\n\n"
        "def logged(fn):\n    @functools.wraps(fn)\n    async def inner(run):\n        await fn(run)\n"
        "    return inner\n\n"
        "@logged\n@blueprint('a', 'does a')\nasync def a(run):\n" + BODY, {"a"}),
    "several, and helpers": (
        "from minion.blueprint import Run, blueprint\n\nasync def helper(run: Run) -> None:\n" + BODY + "\n"
        "@blueprint('a', 'one')\nasync def a(run: Run) -> None:\n    await helper(run)\n\n"
        "@blueprint('b', 'two')\nasync def b(run: Run) -> None:\n" + BODY, {"a", "b"}),
    "reuses a built-in": (
        "from minion.blueprint import blueprint\nfrom minion_blueprints.default import default as base\n\n"
        "@blueprint('a', 'the default, named a')\nasync def a(run):\n    await base(run)\n", {"a"}),
    "no blueprint": ("def helper():\n    return 1\n", set()),
}

REFUSED = {
    "aliased decorator": ("from minion.blueprint import blueprint as declare\n\n@declare('a', 'x')\n"
                          "async def a(run):\n" + BODY, "'a' .*cannot read without running"),
    "computed name": ("from minion.blueprint import blueprint\nNAME = 'a'\n\n@blueprint(NAME, 'x')\n"
                      "async def a(run):\n" + BODY, "'a' .*cannot read without running"),
    "made by a function": (
        "from minion.blueprint import blueprint\n\ndef make(name):\n    @blueprint(name, 'x')\n"
        "    async def bp(run):\n        await run.commit()\n    return bp\n\na = make('a')\n",
        "'a' .*cannot read without running"),
    "not at the top level": ("from minion.blueprint import blueprint\n\nif True:\n    @blueprint('a', 'x')\n"
                             "    async def a(run):\n        await run.commit()\n",
                             "'a' .*cannot read without running"),
    "another blueprint decorator": ("def blueprint(*args):\n    return lambda fn: fn\n\n@blueprint('a', 'x')\n"
                                    "async def a(run):\n" + BODY, "a.py:5: a is declared as the blueprint 'a'"),
    "replaced further down": ("from minion.blueprint import blueprint\n\n@blueprint('a', 'x')\nasync def a(run):\n"
                              + BODY + "\na = None\n", "declared as the blueprint 'a', but running"),
}


@pytest.mark.parametrize("style", AGREE)
def test_what_the_server_reads_is_what_the_worker_loads(tmp_path, style):
    source, names = AGREE[style]
    path = tmp_path / "a.py"
    assert {d.name for d in declarations(path, source.encode())} == names
    assert {bp.name for bp in _load_source(path, source.encode())} == names

    repo = make_repo(tmp_path / "repo", {".minion/blueprints/mine.py": source})
    trust_repo(repo)
    assert declared_names(repo) == set(load_blueprints(repo)) >= names | {"fix", "todo"}


@pytest.mark.parametrize("style", REFUSED)
def test_a_blueprint_the_server_cannot_see_is_a_load_error_naming_it(tmp_path, style):
    source, message = REFUSED[style]
    path = tmp_path / "a.py"
    offered = {d.name for d in declarations(path, source.encode())}
    # Either the server does not offer it and the worker would have made it, or the server
    # offers it and the worker would not have: both are caught when the file loads.
    assert offered == (set() if "cannot read" in message else {"a"})
    with pytest.raises(MinionError, match=message):
        _load_source(path, source.encode())


def test_declarations_say_where_and_what(tmp_path):
    source = ("import minion.blueprint as bp\n\n\n@bp.blueprint('careful', 'Check twice')\n"
              "async def careful_one(run):\n" + BODY)
    [d] = declarations(tmp_path / "c.py", source.encode())
    assert (d.name, d.description, d.function, d.line, d.builtin) == ("careful", "Check twice", "careful_one", 5, False)


def test_a_file_that_does_not_parse_is_named(tmp_path):
    with pytest.raises(MinionError, match="broken.py failed to load"):
        declarations(tmp_path / "broken.py", b"async def oops(:\n")


def test_a_repository_blueprint_is_refused_for_the_fleet_before_anything_is_created(tmp_path):
    from support.fingerprint import assert_unchanged, fingerprint
    from support.script import done, write_script

    from minion.engine.create import RunRequest, create_run
    from minion.runs.store import RunStore

    source = AGREE["plain"][0] + "\n@blueprint('default', 'mine')\nasync def mine(run):\n" + BODY
    repo = make_repo(tmp_path / "repo", {".minion/blueprints/mine.py": source})
    trust_repo(repo)
    before = fingerprint(repo)
    store = RunStore(tmp_path / "runs.db")
    model = write_script(tmp_path, [done()])
    for name in ("a", "default"):  # its own, and one it overrides: a worker would run another
        with pytest.raises(MinionError, match=f"blueprint '{name}' is this repository's own"):
            create_run(RunRequest(task="t", repo=repo, blueprint=name, model=model,
                                  flags={"executor": "temporal"}), store)
    assert store.recent() == []
    assert_unchanged(before, fingerprint(repo))
    assert create_run(RunRequest(task="t", repo=repo, blueprint="todo", model=model,
                                 flags={"executor": "temporal"}), store).worktree is None  # a built-in goes
