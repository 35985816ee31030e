"""The built-in suite (`minion eval builtin`, server/minion/eval/builtin/): its shipped scripted
models pass every task offline, through a real `minion eval` process, the real sandbox and
the real toolchains; the tasks cover what the suite claims; and its judges can fail: each
one fails on its task's repo as shipped, judged by the harness's own code."""

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from minion.config import DEFAULT_MODEL, Settings
from minion.eval.judge import run_judge
from minion.eval.runner import fresh_repo
from minion.eval.suite import BUILTIN_SCRIPT, BUILTIN_SUITE, Task, default_models, load_suite, suite_folder

# A task's language is its repo's: the one kind of source file in it, named by the prefix.
LANGUAGES = {".py": ("py", "Python"), ".js": ("js", "JavaScript"), ".go": ("go", "Go"), ".rs": ("rs", "Rust")}
KINDS = {"fix", "feature", "refactor"}


def language_of(task: Task) -> str:
    found = {LANGUAGES[p.suffix] for p in task.repo.rglob("*") if p.is_file() and p.suffix in LANGUAGES}
    assert len(found) == 1, f"{task.name}: one language per task, found {found}"
    [(prefix, language)] = found
    assert task.name.startswith(f"{prefix}-"), f"{task.name} is {language}: name it {prefix}-…"
    return language


def kind_of(task: Task) -> str:
    kind = task.name.split("-")[1]  # <lang>-<kind>-<what>
    assert kind in KINDS, task.name
    return kind


def test_the_builtin_suite_covers_what_it_claims():
    assert suite_folder("builtin") == BUILTIN_SUITE and suite_folder("./builtin") == Path("builtin").resolve()
    tasks = load_suite(BUILTIN_SUITE)
    assert len(tasks) >= 12
    languages = Counter(language_of(t) for t in tasks)
    assert set(languages) == {"Python", "JavaScript", "Go", "Rust"} and min(languages.values()) >= 2, languages
    triggers = Counter(t.trigger.kind for t in tasks)
    assert set(triggers) == {"instruction", "selection", "todo", "diagnostic"}, triggers
    assert set(Counter(kind_of(t) for t in tasks)) == KINDS
    for language in languages:  # each language has more than one way in and more than one kind of task
        mine = [t for t in tasks if language_of(t) == language]
        assert len({t.trigger.kind for t in mine}) >= 2 and len({kind_of(t) for t in mine}) >= 2, language
    for task in tasks:
        assert task.model is None  # the variant's: the shipped script offline, Claude with a key
        assert (task.folder / "scripted.json").is_file() and task.judge_files is not None, task.name
        assert task.judge_files.is_dir() and any(task.judge_files.rglob("*.*")), task.name
        assert not task.setup and task.timeout <= 300, task.name  # offline: nothing to fetch


def test_with_no_model_the_builtin_suite_uses_claude_with_a_key_and_the_scripts_without(tmp_path):
    assert default_models(BUILTIN_SUITE, [], env={"ANTHROPIC_API_KEY": "sk-test"})[0] == [DEFAULT_MODEL]
    models, note = default_models(BUILTIN_SUITE, [], env={})
    assert models == [BUILTIN_SCRIPT] and note and "script" in note
    assert default_models(BUILTIN_SUITE, ["scripted:x.json"], env={}) == (["scripted:x.json"], None)
    assert default_models(tmp_path, [], env={"ANTHROPIC_API_KEY": "sk-test"}) == ([], None)  # another suite


async def test_the_shipped_scripts_pass_every_task_and_every_judge_fails_on_the_repo_as_shipped(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    out = tmp_path / "out"
    # The eval, as a user runs it; the negative control runs meanwhile.
    eval_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "minion", "eval", "builtin", "--json", "--max-parallel", "2", "--out", str(out),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    communicating = asyncio.ensure_future(eval_process.communicate())

    tasks = load_suite(BUILTIN_SUITE)
    gate = asyncio.Semaphore(1)

    async def judge_unchanged(task: Task):
        async with gate:
            work = tmp_path / "unchanged" / task.name
            work.mkdir(parents=True)
            repo = await asyncio.to_thread(fresh_repo, task, work / "repo")
            return task, await run_judge(task, repo, "HEAD", Settings(), work)

    verdicts = await asyncio.gather(*(judge_unchanged(t) for t in tasks))
    for task, verdict in verdicts:
        # a fail, not an error: the judge ran (its toolchain was there) and said no
        assert verdict.outcome == "fail" and verdict.exit_code not in (None, 0), (task.name, verdict)
    failing = {language_of(task) for task, verdict in verdicts if verdict.outcome == "fail"}
    assert failing == {"Python", "JavaScript", "Go", "Rust"}

    try:
        stdout, stderr = await asyncio.wait_for(communicating, timeout=240)
    except TimeoutError:
        eval_process.kill()
        raise
    assert eval_process.returncode == 0, stderr.decode()[-3000:]
    assert b"shipped script" in stderr  # it says which model it used
    summary = json.loads(stdout)
    assert summary["complete"] and not summary["interrupted"] and summary["errors"] == []
    [stats] = summary["stats"]
    assert (stats["passes"], stats["judged"], stats["errors"]) == (len(tasks), len(tasks), 0)
    assert stats["pass_rate"] == 1.0
    assert stats["cost_usd"] == 0.0
    trials = {t["task"]: t for t in summary["trials"]}
    assert set(trials) == {t.name for t in tasks}
    for task in tasks:
        trial = trials[task.name]
        report = (task.name, trial["status"], trial["error"], (trial["judge"] or {}).get("output", "")[-1500:])
        assert trial["outcome"] == "pass" and trial["status"] == "ok", report
        assert trial["model"] == f"scripted:{task.folder / 'scripted.json'}", report
        assert trial["judge"]["exit_code"] == 0 and trial["patch"] and trial["branch"], report
        assert trial["judge"]["duration_s"] < 60, report
