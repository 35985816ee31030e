"""A lint check reports, it does not fix: the project's ruff config says ``fix = true``
(what its developers want from their own `ruff check`), and minion's check must still
leave what the agent wrote as it was and tell the agent what is wrong."""

from minion.runs.model import Status
from projects import check_named, run_minion
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import done, replace

DOCSTRING = '"""Splitting text into words, and what is counted from them."""\n'
ADD_UNUSED_IMPORT = replace("wordcount/words.py", DOCSTRING, DOCSTRING + "\nimport os\n")
REMOVE_UNUSED_IMPORT = replace("wordcount/words.py", "\nimport os\n", "")


def explain(record) -> str:
    return "\n".join([f"{record.status.value}: {record.summary}"] + [
        f"--- {c['name']}: ok={c['ok']} changed={c.get('changed')} failures={c.get('failures')}\n{c['output'][-800:]}"
        for c in record.checks])


async def test_ruff_reports_the_unused_import_and_never_rewrites_the_file(build, tmp_path):
    project = build("python-pytest-ruff")
    before = fingerprint(project.repo)
    final, nodes = await run_minion(project.repo, tmp_path, [[project.fix, ADD_UNUSED_IMPORT], done("Done."),
                                                             done("Nothing to change."), done("Still nothing.")])

    assert final.status is Status.FAILED_CHECKS, explain(final)
    assert nodes.count("check: ruff") == 3 and "repair 2" in nodes, nodes
    ruff = check_named(final, "ruff")
    assert ruff.command == ".venv/bin/ruff check --no-fix .", ruff.command
    assert not ruff.ok and not ruff.preexisting and ruff.baseline["ok"], explain(final)
    assert "F401" in ruff.output and "wordcount/words.py" in ruff.output, ruff.output
    assert ruff.changed == [], "ruff fixed files although the check runs it with --no-fix"
    assert any(f["path"] == "wordcount/words.py" and "os" in f["message"] for f in ruff.failures), ruff.failures
    # The branch holds what the agent wrote, unused import and all, and the fix works.
    committed = run_git(project.repo, "show", f"{final.branch}:wordcount/words.py")
    assert "\nimport os\n" in committed and project.fixed[1] in committed
    assert check_named(final, "pytest").preexisting, explain(final)
    assert_unchanged(before, fingerprint(project.repo))


async def test_the_repair_removes_what_ruff_reported_and_the_run_ends_ok(build, tmp_path):
    project = build("python-pytest-ruff")
    before = fingerprint(project.repo)
    final, nodes = await run_minion(project.repo, tmp_path, [[project.fix, ADD_UNUSED_IMPORT], done("Done."),
                                                             [REMOVE_UNUSED_IMPORT], done("Removed the import.")])

    assert final.status is Status.OK, explain(final)
    assert nodes == ["context", "implement", "check: ruff", "check: pytest", "repair 1", "check: ruff",
                     "check: pytest", "commit"]
    committed = run_git(project.repo, "show", f"{final.branch}:wordcount/words.py")
    assert "import os" not in committed and project.fixed[1] in committed
    assert_unchanged(before, fingerprint(project.repo))
