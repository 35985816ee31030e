"""minion.testing: a user's test of their blueprint is a real run on a throwaway repository."""

import os
from pathlib import Path

import pytest
from support.script import PYTEST

from minion.blueprint import Run, blueprint
from minion.errors import MinionError
from minion.testing import create, done, replace, run_blueprint, run_blueprint_async, text

CALC = {"calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
        ".gitignore": "__pycache__/\n"}


def test_a_builtin_by_name_leaves_minions_state_and_config_alone(tmp_path):
    before = {key: os.environ.get(key) for key in ("MINION_STATE_DIR", "XDG_CONFIG_HOME")}
    result = run_blueprint("default", files=CALC, checks={"tests": PYTEST},
                           turns=[[text("Fix it."), replace("calc.py", "a - b", "a + b")], done("add() adds.")])
    assert result.status == "ok", result.error
    assert result.node_names == ["context", "implement", "check: tests", "commit"]
    assert result.files == {"calc.py": "def add(a, b):\n    return a + b\n"}
    assert "+    return a + b" in result.diff and [c.ok for c in result.checks] == [True]
    assert any(e["type"] == "run.end" for e in result.events) and result.repo is None
    assert {key: os.environ.get(key) for key in before} == before
    assert not list(Path(before["MINION_STATE_DIR"]).glob("runs.db*"))  # its own state, removed after


def test_the_function_itself_with_steps_as_decorators(tmp_path):
    seen = {}

    @blueprint("mine", "steps, as decorators")
    async def mine(run: Run) -> None:
        @run.step("pair")
        def pair(a: int, b: int = 0) -> tuple[int, int]:
            return a, b

        seen["pair"] = await pair(1, b=2)  # stored as JSON: live and replayed, a list

        @run.step("async one")
        async def count() -> int:
            return len(list(run.worktree.glob("*.py")))

        seen["count"] = await count()
        await run.agent("write", "write notes.txt")
        await run.commit()

    result = run_blueprint(mine, files=CALC, turns=[[create("notes.txt", "hello\n")], done()], checks={},
                           workdir=tmp_path)
    assert result.status == "ok", result.error
    assert seen == {"pair": [1, 2], "count": 2}
    assert result.node_names == ["pair", "async one", "write", "commit"]
    assert [n.result for n in result.nodes[:2]] == [[1, 2], 2]
    assert result.files == {"notes.txt": "hello\n"}
    assert result.repo is not None and (result.repo / ".git").is_dir()  # kept: the caller's folder


def test_a_step_whose_result_is_not_json_fails_clearly():
    async def paths(run: Run) -> None:  # a plain async function is a blueprint too
        await run.step("where", lambda: run.worktree)

    result = run_blueprint(paths, checks={})
    assert result.status == "failed"
    assert "step 'where' returned PosixPath, which JSON cannot hold" in result.record.summary
    assert result.nodes[0].status == "failed"


def test_a_blueprint_file_that_declares_several_needs_a_name(tmp_path):
    path = tmp_path / "two.py"
    path.write_text("from minion.blueprint import blueprint\n\n"
                    "@blueprint('one', '')\nasync def one(run):\n    await run.step('one', lambda: 1)\n\n"
                    "@blueprint('two', '')\nasync def two(run):\n    await run.step('two', lambda: 2)\n")
    with pytest.raises(MinionError, match="declares 2 blueprints .*name="):
        run_blueprint(path)
    result = run_blueprint(path, name="two", checks={})
    assert result.status == "ok" and result.node_names == ["two", "commit"]


async def test_from_async_code():
    with pytest.raises(MinionError, match="run_blueprint_async"):
        run_blueprint("default")
    result = await run_blueprint_async("fix", files=CALC, checks={"tests": PYTEST},
                                       turns=[[replace("calc.py", "a - b", "a + b")], done("fixed")])
    assert result.status == "ok", result.error
    assert result.node_names == ["context", "check: tests", "fix 1", "check: tests", "commit"]
