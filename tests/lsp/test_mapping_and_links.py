"""The pure parts: carrying lines to the current text, reading check output, branch links."""

import pytest
from pygls.workspace import PositionCodec

from minion.lsp.diagnostics import LineMap, Target, hunk_findings, split_lines
from minion.context.anchor import Anchor
from minion.lsp.report import fenced
from minion.runs.publish import compare_url, published_url
from minion.lsp.results import RunResult, _check_locations, load_result, outside_selection
from minion.lsp.review import overlaps
from minion.snapshot import Hunk
from minion.runs.model import CheckResult, RunRecord, Status
from minion.runs.store import RunStore
from support.gitrepo import run_git

from lsp_session import apply_text_edits

BASE = ["a\n", "b\n", "c\n", "d\n"]


def test_a_region_follows_lines_typed_above_it_and_is_intact_only_while_unchanged():
    typed_above = LineMap(BASE, ["new\n", "new\n", *BASE])
    assert typed_above.region(1, 2) == (3, True)
    edited = LineMap(BASE, ["a\n", "B!\n", "c\n", "d\n"])
    assert edited.region(1, 2) == (1, False)  # points at the change, no longer intact
    assert edited.region(2, 2) == (2, True)
    gone = LineMap(BASE, ["a\n", "d\n"])
    assert gone.deleted(1, 2) and gone.region(1, 2) == (1, False)
    assert LineMap(BASE, BASE).region(4, 0) == (4, True)  # an insertion point at the end


def test_split_lines_splits_like_git_not_like_str_splitlines():
    assert split_lines("a\r\nb\x0cc\nlast") == ["a\r\n", "b\x0cc\n", "last"]
    assert split_lines("") == []


def test_a_changes_hover_shows_the_lines_it_removes_and_the_lines_it_adds(calc_repo):
    base = run_git(calc_repo, "rev-parse", "HEAD")
    ops = (calc_repo / "calc/ops.py").read_text()
    (calc_repo / "calc/ops.py").write_text(ops.replace("return a - b", "total = a + b\n    return total"))
    run_git(calc_repo, "commit", "-qam", "the run's change")
    head = run_git(calc_repo, "rev-parse", "HEAD")
    record = RunRecord("1a2b", 0, 0, Status.OK, str(calc_repo), "fix add", "default", "m",
                       base=base, head=head, files=["calc/ops.py"])
    result = load_result(record, RunStore())
    [finding] = hunk_findings(result, Target("calc/ops.py", "file:///ops.py", ops, PositionCodec(), None))
    assert finding.diagnostic.message.splitlines() == [
        "minion 1a2b replaces 1 line with 2: fix add",
        "-     return a - b",
        "+     total = a + b",
        "+     return total"]
    assert finding.diagnostic.data == {"runId": "1a2b", "hunk": 0}  # minion.applyHunk's arguments


def test_a_change_outside_the_selection_is_pointed_out(calc_repo):
    base = run_git(calc_repo, "rev-parse", "HEAD")
    ops = calc_repo / "calc/ops.py"
    line = ops.read_text().splitlines().index("    return a - b")  # the selection
    ops.write_text("import math\n" + ops.read_text().replace("return a - b", "return a + b"))
    (calc_repo / "calc/NOTES.md").write_text("add adds\n")
    run_git(calc_repo, "add", "-A")
    run_git(calc_repo, "commit", "-qm", "the run's change")
    head = run_git(calc_repo, "rev-parse", "HEAD")
    record = RunRecord("1a2b", 0, 0, Status.OK, str(calc_repo), "fix add", "default", "m", base=base, head=head,
                       files=["calc/NOTES.md", "calc/ops.py"],
                       anchor=Anchor("selection", "calc/ops.py", line, line, "    return a - b"))
    result = load_result(record, RunStore())
    assert result.outside == ["calc/NOTES.md:1", "calc/ops.py:1"]  # the line "import math" went before
    [spot] = result.anchor_spots
    assert (spot.path, spot.line, spot.severity) == ("calc/ops.py", line, "information")
    assert spot.message == "minion run 1a2b also changed code outside the selection: calc/NOTES.md:1, calc/ops.py:1"
    # Inside the selection only, or not a selection: nothing to point out.
    inside = RunRecord("1a2c", 0, 0, Status.OK, str(calc_repo), "t", "default", "m", base=base, head=head,
                       anchor=Anchor("selection", "calc/ops.py", 0, 5))
    assert outside_selection(inside, [h for h in result.hunks if h.path == "calc/ops.py"]) == []
    todo = RunRecord("1a2d", 0, 0, Status.OK, str(calc_repo), "t", "default", "m", base=base, head=head,
                     anchor=Anchor("todo", "calc/ops.py", 1, 1))
    assert outside_selection(todo, result.hunks) == []


def test_a_span_widens_to_whole_changed_blocks_and_insertions_at_its_ends():
    assert LineMap(BASE, ["new\n", *BASE]).span(1, 2) == (2, 4)
    assert LineMap(BASE, ["a\n", "B\n", "B2\n", "c\n", "d\n"]).span(1, 1) == (1, 3)  # b became two lines
    assert LineMap(BASE, ["a\n", "b\n", "x\n", "c\n", "d\n"]).span(1, 1) == (1, 3)  # and one inserted after it
    assert LineMap(BASE, ["a\n", "d\n"]).span(1, 2) == (1, 1)  # deleted
    assert LineMap(BASE, BASE).span(4, 0) == (4, 4)


def test_a_revisions_change_applies_on_top_of_an_earlier_round_the_user_applied(calc_repo):
    ops = calc_repo / "calc/ops.py"
    base_text = ops.read_text()
    base = run_git(calc_repo, "rev-parse", "HEAD")
    heads = []
    for old, new in (("return a - b", "return a + b"),  # round 1
                     ("return a + b", "total = b + a\n    return total")):  # round 2 rewrites round 1's line
        ops.write_text(ops.read_text().replace(old, new))
        run_git(calc_repo, "commit", "-qam", new)
        heads.append(run_git(calc_repo, "rev-parse", "HEAD"))
    store = RunStore()
    store.create(RunRecord("r1", 0, 0, Status.OK, str(calc_repo), "fix add", "default", "m", base=base, head=heads[0],
                           files=["calc/ops.py"]))
    second = RunRecord("r2", 0, 0, Status.OK, str(calc_repo), "spell it out", "default", "m", base=base,
                       head=heads[1], files=["calc/ops.py"], revises="r1")
    result = load_result(second, store)
    final = ops.read_text()

    def applied(user_text: str) -> str:
        found = hunk_findings(result, Target("calc/ops.py", "file:///ops.py", user_text, PositionCodec(), None))
        assert found and all(f.edit for f in found)
        return apply_text_edits(user_text, [f.edit for f in found if f.edit])

    round_one = run_git(calc_repo, "show", f"{heads[0]}:calc/ops.py") + "\n"
    assert applied(round_one) == final  # the user applied round 1: round 2 goes on top of it
    assert applied(base_text) == final  # or nothing yet: the whole branch's change
    assert applied("# typed\n" + round_one) == "# typed\n" + final
    edited = round_one.replace("return a + b", "return a + b  # mine")
    assert all(f.edit is None for f in hunk_findings(  # the user changed those lines since: no fix
        result, Target("calc/ops.py", "file:///ops.py", edited, PositionCodec(), None)))


def test_same_lines_are_compared_on_the_users_text_not_by_number():
    def result(run_id: str, snapshot: list[str], line: int) -> RunResult:  # a run that changed ``line`` (0-based)
        record = RunRecord(run_id, 0, 0, Status.OK, "/repo", "t", "default", "m")
        hunk = Hunk("f.py", line + 1, 1, line + 1, 1, snapshot[line], "changed\n")
        return RunResult(record, [hunk], {"f.py": "".join(snapshot)}, {}, [], [], "why")

    body = [f"line {n}\n" for n in range(10)]
    typed = [f"new {n}\n" for n in range(5)]
    older = result("old1", body, 3)  # taken before the user typed five lines at the top
    newer = result("new1", typed + body, 8)  # the same line, after
    elsewhere = result("new2", typed + body, 3)  # the same number, another line
    current = {"f.py": "".join(typed + body)}
    assert overlaps(newer, older, current) and overlaps(older, newer, current)
    assert not overlaps(elsewhere, older, current)


def test_check_output_locations_in_the_repo_are_found_others_ignored():
    repo = "/home/u/user repo"
    output = "\n".join([
        "tests/test_ops.py:5: AssertionError",
        f'  File "{repo}/calc/ops.py", line 2, in add',
        '  File "/usr/lib/python3.11/unittest/case.py", line 57, in testPartExecutor',
        "./calc/ops.py:2:5: F821 undefined name 'x'",
        "ran in 0.53s: 1 failed",
    ])
    checks = [CheckResult("tests", "pytest", False, 1, output, 1.0), CheckResult("lint", "ruff", True, 0, "x.py:1", 1.0)]
    record = RunRecord("r1", 0, 0, Status.FAILED_CHECKS, repo, "task", "default", "m", checks=checks)
    assert [(path, line) for path, line, *_ in _check_locations(record)] == [
        ("tests/test_ops.py", 5), ("calc/ops.py", 2)]


def test_a_failed_check_points_at_the_line_of_the_repo_it_names(calc_repo):
    head = run_git(calc_repo, "rev-parse", "HEAD")
    failed = CheckResult("tests", "pytest", False, 1, "calc/ops.py:3: AssertionError\nran: 1 failed", 1.0)
    record = RunRecord("1a2b", 0, 0, Status.FAILED_CHECKS, str(calc_repo), "fix", "default", "m",
                       base=head, head=head, checks=[failed])
    result = load_result(record, RunStore())
    assert [(s.path, s.line, s.severity, s.check) for s in result.check_spots] == [
        ("calc/ops.py", 2, "error", "tests")]
    assert "calc/ops.py" in result.head_texts


@pytest.mark.parametrize("remote, expected", [
    ("git@github.com:octo/app.git", "https://github.com/octo/app/compare/B...minion/fix-x-1a2b"),
    ("https://github.com/octo/app", "https://github.com/octo/app/compare/B...minion/fix-x-1a2b"),
    ("https://token@github.com/octo/app.git", "https://github.com/octo/app/compare/B...minion/fix-x-1a2b"),
    ("ssh://git@gitlab.com:2222/group/sub/app.git", "https://gitlab.com/group/sub/app/-/compare/B...minion/fix-x-1a2b"),
    ("http://gitlab.internal/team/app.git", "http://gitlab.internal/team/app/-/compare/B...minion/fix-x-1a2b"),
    ("git@bitbucket.org:octo/app.git", None),
    ("/srv/git/app.git", None),
])
def test_compare_urls_for_github_and_gitlab_remotes(remote, expected):
    assert compare_url(remote, "B", "minion/fix-x-1a2b") == expected


def test_the_link_is_the_compare_url_only_once_the_branch_is_on_the_remote(calc_repo):
    run_git(calc_repo, "branch", "minion/fix-1a2b")
    head = run_git(calc_repo, "rev-parse", "HEAD")
    record = RunRecord("1a2b", 0, 0, Status.OK, str(calc_repo), "fix", "default", "m",
                       branch="minion/fix-1a2b", base=head, head=head)
    assert published_url(record) is None  # no remote
    run_git(calc_repo, "remote", "add", "origin", "git@github.com:octo/app.git")
    assert published_url(record) is None  # not pushed
    # What a push leaves behind locally: the remote-tracking ref at the branch's commit.
    run_git(calc_repo, "update-ref", "refs/remotes/origin/minion/fix-1a2b", head)
    assert published_url(record) == f"https://github.com/octo/app/compare/{head}...minion/fix-1a2b"


def test_a_fence_outgrows_the_backticks_inside():
    assert fenced("x ``` y", "diff") == "````diff\nx ``` y\n````"
