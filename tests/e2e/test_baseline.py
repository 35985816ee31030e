"""A run is judged by what it changed: the checks on the snapshot are its baseline, and a
check may report but not edit. Real git, bubblewrap and pytest; the scripted model."""

import subprocess
import sys

from minion.runs.events import log_path, read_events
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git
from support.script import PYTEST, done, replace, write_script

FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    "tests/test_ops.py": "from calc.ops import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
                         "def test_mul():\n    assert mul(2, 3) == 6\n",
    # Already failing, and not what any task here is about.
    "tests/test_legacy.py": "def test_legacy_format():\n    assert 'a' == 'b'\n",
    ".gitignore": "__pycache__/\n",
}
DOCUMENT_MUL = replace("calc/ops.py", "def mul(a, b):", 'def mul(a, b):\n    """Product."""')
BREAK_ADD = replace("calc/ops.py", "return a + b", "return a - b")


async def run(repo, tmp_path, turns, task="document mul", checks=None, name="script.json"):
    store = RunStore()
    flags = {"checks": checks or {"tests": PYTEST}}
    record = create_run(RunRequest(task=task, repo=repo, model=write_script(tmp_path, turns, name), flags=flags), store)
    final = await execute_run(record.id, store)
    return final, [n.name for n in store.nodes(final.id)], read_events(log_path(final.id))


async def test_a_failure_that_was_there_before_does_not_fail_the_run(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    final, nodes, events = await run(repo, tmp_path, [[DOCUMENT_MUL], done("Documented mul.")])
    assert final.status is Status.OK, (final.status, final.summary)
    assert nodes == ["context", "implement", "check: tests", "commit"]  # no repair chased it
    check = final.checks[0]
    assert not check.ok and check.preexisting and check.baseline["ok"] is False
    assert any("test_legacy_format" in f for f in check.baseline["failures"]), check.baseline
    assert "tests already failing before this run" in final.summary
    # The baseline ran beside the agent's first node, not after it.
    starts = {e["type"]: e["ts"] for e in events if e["type"] in ("baseline.start", "baseline.end")}
    implement_end = next(e["ts"] for e in events if e["type"] == "node.end" and e["name"] == "implement")
    assert starts["baseline.start"] < implement_end
    shown = subprocess.run([sys.executable, "-m", "minion.cli", "show", final.id], capture_output=True, text=True)
    assert "already failing before this run" in shown.stdout and "test_legacy_format" in shown.stdout
    assert "already failing before this run" in run_git(repo, "log", "-1", "--format=%B", final.branch)
    assert_unchanged(before, fingerprint(repo))


async def test_a_failure_the_run_brings_counts_and_is_repaired(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    fix_add = replace("calc/ops.py", "return a - b", "return a + b")
    final, nodes, _ = await run(repo, tmp_path, [[DOCUMENT_MUL, BREAK_ADD], done("Done."), [fix_add], done("Fixed.")])
    assert nodes == ["context", "implement", "check: tests", "repair 1", "check: tests", "commit"]
    assert final.status is Status.OK and final.checks[0].preexisting
    # The first check's summary is the failure the run brought, not the older one listed first.
    summaries = [e["summary"] for e in read_events(log_path(final.id))
                 if e["type"] == "node.end" and e["name"] == "check: tests"]
    assert "test_add" in summaries[0] and "test_legacy" not in summaries[0], summaries


async def test_a_failure_the_run_does_not_fix_ends_failed_checks(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    final, _, _ = await run(repo, tmp_path, [[BREAK_ADD], done("Done."), done("No."), done("No.")])
    assert final.status is Status.FAILED_CHECKS
    assert not final.checks[0].preexisting


async def test_a_task_about_the_failing_tests_is_judged_by_them(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    for task in ("make the tests pass", "fix test_legacy_format", "fix tests/test_legacy.py"):
        final, nodes, _ = await run(repo, tmp_path, [done("Nothing to do."), done("No."), done("No.")], task=task,
                                    name=f"{len(task)}.json")
        assert final.status is Status.FAILED_CHECKS and "repair 1" in nodes, task


async def test_the_baseline_is_kept_per_snapshot_tree(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    _, _, first = await run(repo, tmp_path, [[DOCUMENT_MUL], done()], name="a.json")
    _, _, second = await run(repo, tmp_path, [[DOCUMENT_MUL], done()], name="b.json")
    assert [e["cached"] for e in first if e["type"] == "baseline.end"] == [False]
    assert [e["cached"] for e in second if e["type"] == "baseline.end"] == [True]


async def test_a_check_that_rewrites_files_is_reported_and_put_back(tmp_path):
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    rewrite = "sed -i 's/Product/PRODUCT/' calc/ops.py && echo junk > generated.txt && rm tests/test_legacy.py"
    final, _, _ = await run(repo, tmp_path, [[DOCUMENT_MUL], done("Documented.")], checks={"format": rewrite})
    assert final.status is Status.OK
    assert sorted(final.checks[0].changed) == ["calc/ops.py", "generated.txt", "tests/test_legacy.py"]
    assert '"""Product."""' in run_git(repo, "show", f"{final.branch}:calc/ops.py")
    tree = run_git(repo, "ls-tree", "-r", "--name-only", final.branch).splitlines()
    assert "generated.txt" not in tree and "tests/test_legacy.py" in tree
    assert_unchanged(before, fingerprint(repo))
