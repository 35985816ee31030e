"""What a delegate action turns into: the task, the anchor and the unsaved buffers sent."""

import pytest
from lsprotocol import types
from pygls.workspace import TextDocument

from minion.errors import MinionError
from minion.lsp.delegation import Delegation, task_and_anchor, unsaved_buffers
from support.gitrepo import make_repo, write_files

from lsp_session import OPS

PATTERNS = ["TODO(minion)"]


def lines(start: int, end: int, end_character: int = 0) -> types.Range:
    return types.Range(types.Position(line=start, character=0), types.Position(line=end, character=end_character))


def delegated(repo, kind, selected, **more):
    """The task and anchor of a minion.delegate argument on calc/ops.py (holding OPS)."""
    uri = (repo / "calc/ops.py").as_uri()
    argument = {**Delegation(uri, selected, kind).argument(), **more}
    return task_and_anchor(Delegation.parse(argument), TextDocument(uri, OPS), "calc/ops.py", PATTERNS)


def test_a_plain_selection_becomes_a_task_about_those_lines(calc_repo):
    task, anchor = delegated(calc_repo, "selection", lines(0, 3))
    assert "calc/ops.py, lines 1-3" in task
    assert (anchor.kind, anchor.start_line, anchor.end_line, anchor.text) == ("selection", 0, 2, OPS)
    task, _ = delegated(calc_repo, "selection", lines(2, 2, 16), instruction="  use operator.add  ")
    assert task == "use operator.add"


def test_a_todo_and_a_diagnostic_carry_their_own_text(calc_repo):
    task, anchor = delegated(calc_repo, "todo", lines(1, 2))
    assert task == "make add() add" and (anchor.kind, anchor.start_line, anchor.end_line) == ("todo", 1, 1)
    with pytest.raises(MinionError, match="no TODO for minion at calc/ops.py:3"):
        delegated(calc_repo, "todo", lines(2, 3))

    diagnostic = {"message": "F821 undefined name 'b'", "source": "ruff", "code": 821}
    task, anchor = delegated(calc_repo, "diagnostic", lines(2, 2, 16), diagnostic=diagnostic)
    assert task == "Fix this problem (ruff 821) reported at calc/ops.py:3: F821 undefined name 'b'"
    assert (anchor.kind, anchor.source, anchor.code) == ("diagnostic", "ruff", "821")
    assert anchor.text == diagnostic["message"]


def test_a_malformed_argument_is_refused_with_the_expected_shape():
    with pytest.raises(MinionError, match="takes one object"):
        Delegation.parse(["file:///x"])
    with pytest.raises(MinionError, match="kind must be one of"):
        Delegation.parse({"uri": "file:///x", "range": {}, "kind": "everything"})
    argument = Delegation("file:///x", lines(1, 2), "todo").argument()
    assert Delegation.parse(argument) == Delegation("file:///x", lines(1, 2), "todo")


def test_only_changed_unignored_buffers_of_the_repo_are_sent(calc_repo, tmp_path):
    write_files(calc_repo, {"notes.log": "on disk\n"})  # *.log is ignored
    buffers = {
        str(calc_repo / "calc/ops.py"): OPS.replace("a - b", "a - b  # typed"),
        str(calc_repo / "tests/test_ops.py"): (calc_repo / "tests/test_ops.py").read_text(),  # saved
        str(calc_repo / "calc/new.py"): "x = 1\n",  # never saved
        str(calc_repo / "notes.log"): "secret\n",
        str(tmp_path / "elsewhere.py"): "y = 2\n",
    }
    assert unsaved_buffers(calc_repo, buffers) == {
        "calc/ops.py": OPS.replace("a - b", "a - b  # typed"), "calc/new.py": "x = 1\n"}


def test_buffers_of_git_itself_or_a_nested_repo_are_left_out(calc_repo):
    make_repo(calc_repo / "vendor" / "lib", {"x.txt": "x\n"})
    buffers = {
        str(calc_repo / ".git" / "COMMIT_EDITMSG"): "wip\n",
        str(calc_repo / "vendor" / "lib" / "x.txt"): "edited\n",
        str(calc_repo / "calc/new.py"): "x = 1\n",
    }
    assert unsaved_buffers(calc_repo, buffers) == {"calc/new.py": "x = 1\n"}
