"""Real projects, right the first time: Python (unittest only; pytest + ruff with
``fix = true``), JavaScript (a test tool that writes node_modules/.cache), Go and Rust,
each with a test that failed before the run and has nothing to do with the task.

Each run goes through the real product: snapshot, the checks minion chooses, the baseline,
bubblewrap, the scripted model, the host-side commit. What must hold: the right status,
the right checks, a branch with the fix and nothing else (no bytecode, caches or build
output), and the user's repository exactly as it was.
"""

import subprocess
import sys

from minion.runs.model import RunRecord, Status
from projects import Project, branch_files, check_named, run_minion
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import done, text


def explain(record: RunRecord) -> str:
    """The run's status and each check's verdict and output tail, for a failing assert."""
    lines = [f"{record.status.value}: {record.summary}"]
    for c in record.checks:
        lines.append(f"--- {c['name']} ({c['command']}): ok={c['ok']} preexisting={c.get('preexisting')} "
                     f"failures={c.get('failures')}\n{c['output'][-1500:]}")
    return "\n".join(lines)


def names(failure: dict, test: tuple[str, str]) -> bool:
    """Whether a failure minion parsed from a check's output points at ``test``, by the
    test's name or its file."""
    name, file = test
    described = f"{failure.get('path')}:{failure.get('line')}: {failure.get('message')}"
    return name.rsplit("::", 1)[-1] in described or file in described


def check_nodes(project: Project) -> list[str]:
    return [f"check: {name}" for name in project.checks]


async def test_the_fix_lands_and_the_failure_that_was_there_is_named_not_counted(project, tmp_path):
    repo = project.repo
    before = fingerprint(repo)
    final, nodes = await run_minion(repo, tmp_path, [[text("Split on any whitespace."), project.fix],
                                                     done("Words are now split on any whitespace.")])

    assert final.status is Status.OK, explain(final)
    assert [c.name for c in final.checks] == project.checks, explain(final)
    if project.family.startswith("python"):  # the project's own .venv, not the host's python3
        assert all(c.command.startswith(".venv/bin/") for c in final.checks), explain(final)
    assert nodes == ["context", "implement", *check_nodes(project), "commit"]  # no repair chased the old failure
    tests = check_named(final, project.test_check)
    # The runner itself says the task's test passed and only the old one failed.
    assert project.failed_tests(tests.output) == {project.preexisting[0]}, explain(final)
    assert project.passed_tests(tests.output) in (2, None), explain(final)  # of the 3: nothing stopped early
    assert not tests.ok and tests.preexisting and tests.baseline["ok"] is False, explain(final)
    assert tests.failures and all(names(f, project.preexisting) for f in tests.failures), explain(final)
    assert all(c.ok for c in final.checks if c is not tests), explain(final)

    path, fixed = project.fixed
    assert final.files == [path]
    assert fixed in run_git(repo, "show", f"{final.branch}:{path}")
    assert branch_files(repo, final.branch) == project.files  # no bytecode, cache or build output
    assert_unchanged(before, fingerprint(repo))


async def test_a_fix_that_breaks_a_passing_test_ends_failed_checks(project, tmp_path):
    repo = project.repo
    before = fingerprint(repo)
    final, nodes = await run_minion(repo, tmp_path, [[project.bad_fix], done("Done."), done("Nothing else to change."),
                                                     done("Still nothing.")])

    assert final.status is Status.FAILED_CHECKS, explain(final)
    assert [c.name for c in final.checks] == project.checks, explain(final)
    checks = check_nodes(project)
    assert nodes == ["context", "implement", *checks, "repair 1", *checks, "repair 2", *checks, "commit"]
    tests = check_named(final, project.test_check)
    assert project.failed_tests(tests.output) == {project.preexisting[0], project.broken[0]}, explain(final)
    assert project.passed_tests(tests.output) in (1, None), explain(final)
    assert not tests.ok and not tests.preexisting, explain(final)
    assert any(names(f, project.broken) for f in tests.failures), explain(final)

    path, _ = project.fixed
    assert project.bad_fix["input"]["new_str"] in run_git(repo, "show", f"{final.branch}:{path}")  # the work is kept
    assert branch_files(repo, final.branch) == project.files
    assert_unchanged(before, fingerprint(repo))


def test_minion_checks_lists_the_checks_a_run_chooses(project):
    """`minion checks` says beforehand what a run will run, from the project alone."""
    shown = subprocess.run([sys.executable, "-m", "minion.cli", "checks", "--repo", str(project.repo)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    chosen = [line.split(None, 1)[1].split(":", 1)[0] for line in shown.stdout.splitlines() if line.startswith("check ")]
    assert chosen == project.checks, shown.stdout
    if project.family.startswith("python"):  # the project's own .venv, not the host's python3
        assert shown.stdout.startswith("python  .venv/bin/python"), shown.stdout
