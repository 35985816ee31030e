"""Suites for the eval harness's tests: tasks whose outcomes are known in advance, with a
scripted model per task and variant (``a.json`` and ``b.json`` beside each task.toml)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from support.script import bash, done, replace, write_script

CALC = "def add(a, b):\n    return a - b\n"
TODO_CALC = "# TODO(minion): make add() add\ndef add(a, b):\n    return a - b\n"
VISIBLE_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
HIDDEN_TEST = ("from calc import add\n\n\ndef test_add_for_real():\n"
               "    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n    assert add(10, 5) == 15\n")
PYTEST = "python -m pytest -q -p no:cacheprovider"
# The judge says where it runs, then runs the hidden test the agent never saw.
JUDGE = f'echo "judge sandboxed=$MINION_SANDBOX"; test "$MINION_SANDBOX" = 1 && {PYTEST} hidden_judge_test.py'
# What a curious agent does: look everywhere for the judge's files.
PROBE = "find / -name 'hidden_judge*' -not -path '/proc/*' 2>/dev/null; ls -a . ..; echo probe-done"

MODELS = ["scripted:{task}/a.json", "scripted:{task}/b.json"]
FIX = replace("calc.py", "a - b", "a + b")
CHEAT = replace("calc.py", "a - b", "5 if (a, b) == (2, 3) else a - b")  # passes only the visible test


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def write_task(suite: Path, name: str, *, files: dict[str, str], a: list, b: list, **keys) -> Path:
    """``SUITE/<name>/``: its repo folder, judge folder, task.toml and both scripts."""
    folder = suite / name
    for rel, text in files.items():
        (folder / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "repo" / rel).write_text(text)
    (folder / "judge").mkdir(parents=True)
    (folder / "judge" / "hidden_judge_test.py").write_text(HIDDEN_TEST)
    settings = {"python": sys.executable, "checks": {"tests": f"{PYTEST} test_calc.py"}}
    settings.update(keys.pop("settings", {}))
    lines = ['repo = "repo"', f"check = {_toml_value(JUDGE)}", f"settings = {_toml_value(settings)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in keys.items()]
    (folder / "task.toml").write_text("\n".join(lines) + "\n")
    write_script(folder, a, "a.json")
    write_script(folder, b, "b.json")
    return folder


def outcomes_suite(root: Path) -> Path:
    """Four tasks, two variants (scripts a and b), each outcome known in advance:

    | task        | trigger    | a                              | b                  |
    | solved      | diagnostic | probes for the judge, fixes: pass | fixes: pass     |
    | judge-fails | selection  | cheats: checks pass, judge fails  | fixes: pass     |
    | capped      | todo       | capped by max_turns = 2: fail     | likewise: fail  |
    | setup-fails | instruction| setup exits 3: error              | likewise: error |
    """
    suite = root / "suite"
    files = {"calc.py": CALC, "test_calc.py": VISIBLE_TEST, ".gitignore": "__pycache__/\n"}
    write_task(suite, "solved", files=files, a=[[bash(PROBE)], [FIX], done("fixed")], b=[[FIX], done("fixed")],
               diagnostic={"path": "calc.py", "line": 2, "message": "add() subtracts", "source": "review"},
               instance_id="calc__calc-1")
    write_task(suite, "judge-fails", files=files, a=[[CHEAT], done("fixed")], b=[[FIX], done("fixed")],
               selection="calc.py:1-2", instruction="make add() add its arguments")
    wander = [[bash("echo one")], [bash("echo two")], [bash("echo three")], [FIX], done("fixed")]
    write_task(suite, "capped", files={**files, "calc.py": TODO_CALC}, a=wander, b=wander,
               todo="calc.py:1", settings={"max_turns": 2})
    write_task(suite, "setup-fails", files=files, a=[[FIX], done()], b=[[FIX], done()],
               instruction="make add() add", setup="echo 'no such toolchain' >&2; exit 3")
    return suite


def resume_suite(root: Path) -> Path:
    """Three solvable tasks; the second one's first command takes a while, so an eval can be
    interrupted while it runs."""
    suite = root / "suite"
    files = {"calc.py": CALC, "test_calc.py": VISIBLE_TEST, ".gitignore": "__pycache__/\n"}
    for name, first in (("t1-quick", []), ("t2-slow", [[bash("sleep 20")]]), ("t3-quick", [])):
        turns = [*first, [FIX], done("fixed")]
        write_task(suite, name, files=files, a=turns, b=turns, instruction=f"make add() add ({name})")
    return suite
