"""Reading a suite, making a trial's repo and request, and the numbers: no runs here."""

import subprocess

import pytest

from minion.errors import MinionError
from minion.eval import load_suite, paired_differences, variant_stats, variants_of, wilson
from minion.eval.runner import build_request, fresh_repo
from minion.eval.suite import load_task

CALC = "# TODO(minion): make add() add\ndef add(a, b):\n    return a - b\n"


def _task(tmp_path, toml: str, files=None):
    folder = tmp_path / "suite" / "t"
    (folder / "repo").mkdir(parents=True)
    for rel, text in (files or {"calc.py": CALC}).items():
        (folder / "repo" / rel).write_text(text)
    (folder / "task.toml").write_text(toml)
    return folder


@pytest.mark.parametrize(("trigger", "kind", "lines"), [
    ('todo = "calc.py:1"', "todo", (0, 0)),
    ('selection = "calc.py:2-3"\ninstruction = "make it add"', "selection", (1, 2)),
    ('diagnostic = {path = "calc.py", line = 3, message = "subtracts", source = "lint", code = 7}',
     "diagnostic", (2, 2)),
])
def test_each_trigger_becomes_the_task_and_anchor_the_language_server_would_make(tmp_path, trigger, kind, lines):
    folder = _task(tmp_path, f'repo = "repo"\ncheck = "true"\n{trigger}\n')
    [task] = load_suite(folder.parent)
    repo = fresh_repo(task, tmp_path / "work")
    request = build_request(task, variants_of([], [])[0], repo)
    assert request.anchor.kind == kind and (request.anchor.start_line, request.anchor.end_line) == lines
    assert request.anchor.path == "calc.py"
    if kind == "todo":
        assert request.task == "make add() add" and request.blueprint == "todo"
    elif kind == "selection":
        assert request.task == "make it add" and "return a - b" in request.anchor.text
    else:
        assert request.task == "Fix this problem (lint 7) reported at calc.py:3: subtracts"
    assert request.flags["max_wall_seconds"] == task.timeout


def test_a_bundle_repo_starts_at_its_ref(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "PATH": "/usr/bin:/bin"}
    for text in ("one\n", "two\n"):
        (source / "f.txt").write_text(text)
        subprocess.run(f"git init -q -b main 2>/dev/null; git add -A && git commit -qm {text.strip()}", shell=True,
                       cwd=source, env=env, check=True)
    subprocess.run(["git", "bundle", "create", "-q", str(tmp_path / "r.bundle"), "main"], cwd=source, check=True)
    folder = tmp_path / "suite" / "t"
    folder.mkdir(parents=True)
    (folder / "task.toml").write_text('repo = "../../r.bundle"\nref = "main~1"\ncheck = "true"\ninstruction = "x"\n')
    repo = fresh_repo(load_task(folder), tmp_path / "work")
    assert (repo / "f.txt").read_text() == "one\n"


@pytest.mark.parametrize(("toml", "says"), [
    ('check = "true"\ninstruction = "x"\n', "`repo` is required"),
    ('repo = "repo"\ninstruction = "x"\n', "`check` is required"),
    ('repo = "repo"\ncheck = "true"\n', "give a trigger"),
    ('repo = "repo"\ncheck = "true"\nselection = "calc.py:2"\n', "needs an `instruction`"),
    ('repo = "repo"\ncheck = "true"\ntodo = "calc.py"\n', '"path:line"'),
    ('repo = "repo"\ncheck = "true"\ninstruction = "x"\nsettings = {sandbox = "none"}\n', "may not set sandbox"),
    ('repo = "repo"\ncheck = "true"\ninstruction = "x"\njudge = "repo"\n', "must not be inside the repo"),
    ('repo = "repo"\ncheck = "true"\ninstruction = "x"\nwho = 1\n', "unknown key(s) who"),
])
def test_a_bad_task_file_is_refused_with_the_key_it_gets_wrong(tmp_path, toml, says):
    folder = _task(tmp_path, toml)
    with pytest.raises(MinionError, match=None) as caught:
        load_task(folder)
    assert says in str(caught.value) and "task.toml" in str(caught.value)


def test_wilson_edges_and_errors_left_out_of_the_rates():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # the textbook 0.2775
    lo, hi = wilson(10, 10)
    assert 0.72 < lo < 0.73 and hi == pytest.approx(1.0)
    trials = [{"task": "a", "variant": "v", "outcome": "pass", "cost_usd": 0.3, "turns": 4, "wall_s": 2.0},
              {"task": "b", "variant": "v", "outcome": "fail", "cost_usd": 0.1, "turns": 8, "wall_s": 4.0},
              {"task": "c", "variant": "v", "outcome": "error", "cost_usd": 0.0, "turns": 0, "wall_s": 0.0}]
    s = variant_stats("v", trials)
    assert (s.passes, s.judged, s.errors, s.pass_rate) == (1, 2, 1, 0.5)
    assert s.cost_per_task == pytest.approx(0.2) and s.cost_per_pass == pytest.approx(0.4)
    assert (s.median_turns, s.median_wall_s) == (6, 3.0)
    other = [{**t, "variant": "w", "outcome": "pass"} for t in trials[:2]]
    paired = paired_differences(["a", "b", "c"], ["v", "w"], trials + other)
    assert paired["variants"]["w"] == {"per_task": {"a": 0.0, "b": 1.0, "c": None}, "tasks": 2, "mean": 0.5}


def test_a_tasks_own_model_wins_and_task_means_its_folder(tmp_path):
    folder = _task(tmp_path, 'repo = "repo"\ncheck = "true"\ninstruction = "x"\nmodel = "scripted:solve.json"\n')
    task = load_task(folder)
    repo = fresh_repo(task, tmp_path / "work")
    [variant] = variants_of(["fix"], ["scripted:{task}/other.json"])
    assert build_request(task, variant, repo).model == f"scripted:{folder.resolve() / 'solve.json'}"
    task = load_task(_task(tmp_path / "b", 'repo = "repo"\ncheck = "true"\ninstruction = "x"\n'))
    request = build_request(task, variant, fresh_repo(task, tmp_path / "work-b"))
    assert request.model == f"scripted:{task.folder}/other.json" and request.blueprint == "fix"


def test_repeats_multiply_the_trials_and_name_the_swebench_predictions(tmp_path):
    from minion.eval import Plan, summarize
    from minion.eval.report import swebench_predictions

    folder = _task(tmp_path, 'repo = "repo"\ncheck = "true"\ninstruction = "x"\ninstance_id = "o__r-1"\n')
    plan = Plan(folder.parent, load_suite(folder.parent), variants_of(["default", "fix"], ["scripted:a.json"]),
                repeat=2, out=tmp_path / "out")
    assert [(t.name, v.blueprint, r) for t, v, r in plan.trials()] == [
        ("t", "default", 0), ("t", "fix", 0), ("t", "default", 1), ("t", "fix", 1)]
    trials = [{"task": "t", "variant": v.label, "repeat": r, "outcome": "pass", "status": "ok", "error": None,
               "run_id": f"id{r}", "instance_id": "o__r-1", "patch": "diff\n", "cost_usd": 0.1, "turns": 3,
               "wall_s": 1.0} for _, v, r in plan.trials()]
    summary = summarize(plan, trials)
    assert summary["complete"] and [s["judged"] for s in summary["stats"]] == [2, 2]
    names = [p["model_name_or_path"] for p in swebench_predictions(summary)]
    assert names == ["default · scripted:a.json #r0", "fix · scripted:a.json #r0",
                     "default · scripted:a.json #r1", "fix · scripted:a.json #r1"]
