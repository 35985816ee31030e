"""The todo blueprint's own step: removing the handled TODO comment, byte for byte."""

import importlib.util

import pytest

from minion.blueprint.registry import builtin_dir
from support.gitrepo import make_repo, run_git

spec = importlib.util.spec_from_file_location("todo_blueprint", builtin_dir() / "todo.py")
todo_blueprint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(todo_blueprint)
PATTERNS = ["TODO(minion)"]


@pytest.mark.parametrize("before, after", [
    (b"a = 1\r\n# TODO(minion): do b\r\nb = 2\r\n", b"a = 1\r\nb = 2\r\n"),
    (b"x = 1  # TODO(minion): do b\r\ny = 2\r\n", b"x = 1\r\ny = 2\r\n"),
    (b"a = 1\x0c\nb = 2\n# TODO(minion): do b\nc = '\xc3\xa9'\n", b"a = 1\x0c\nb = 2\nc = '\xc3\xa9'\n"),
    (b"# TODO(minion): do b\n#   and more of it\n\nz = 0\n", b"\nz = 0\n"),
])
def test_the_comment_goes_and_every_other_byte_stays(tmp_path, before, after):
    repo = make_repo(tmp_path / "r", {"m.py": before})
    text = "do b\nand more of it" if b"more" in before else "do b"
    assert todo_blueprint.remove_todo_comment(repo, "m.py", text, PATTERNS)
    assert (repo / "m.py").read_bytes() == after


def test_a_todo_that_is_gone_or_a_symlink_is_left_alone(tmp_path):
    repo = make_repo(tmp_path / "r", {"m.py": "x = 1\n"})
    assert not todo_blueprint.remove_todo_comment(repo, "m.py", "do b", PATTERNS)
    assert (repo / "m.py").read_text() == "x = 1\n"
    outside = tmp_path / "outside.py"
    outside.write_text("# TODO(minion): do b\n")
    (repo / "link.py").symlink_to(outside)
    run_git(repo, "add", "link.py")
    assert not todo_blueprint.remove_todo_comment(repo, "link.py", "do b", PATTERNS)
    assert outside.read_text() == "# TODO(minion): do b\n"
