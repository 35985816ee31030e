"""The agent's file tools map paths into the run's worktree and refuse every escape."""

import os
from pathlib import Path

import pytest

from minion.agent.tools import EDITOR, Toolset
from support.gitrepo import make_repo


@pytest.fixture
def tools(tmp_path) -> Toolset:
    user_repo = tmp_path / "repo"
    worktree = make_repo(tmp_path / "worktree", {"app/main.py": "x = 1\ny = 2\nx = 1\n", ".gitignore": "build/\n"})
    (worktree / "build").mkdir()
    (worktree / "build" / "gen.py").write_text("x = 1\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    os.symlink(tmp_path / "outside.txt", worktree / "link.txt")
    os.symlink(tmp_path, worktree / "linkdir")
    # The sandbox is not needed for the file tools.
    return Toolset(user_repo, worktree, sandbox=None, command_timeout=5)  # type: ignore[arg-type]


async def edit(tools, **args):
    return await tools.call(EDITOR, args)


async def test_view_uses_the_repo_path_and_reads_the_worktree(tools):
    result = await edit(tools, command="view", path=str(tools.repo_path / "app/main.py"))
    assert not result.is_error and "     2\ty = 2" in result.content
    relative = await edit(tools, command="view", path="app/main.py", view_range=[2, 2])
    assert relative.content.strip() == "2\ty = 2"


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "app/../../outside.txt", "link.txt", "linkdir/outside.txt", ".git/config"])
async def test_escapes_are_refused_and_nothing_is_touched(tools, tmp_path, path):
    for command in ("view", "create"):
        result = await edit(tools, command=command, path=path, file_text="pwned\n")
        assert result.is_error, (command, path, result.content)
    assert (tmp_path / "outside.txt").read_text() == "secret\n"
    assert "pwned" not in (tools.worktree / ".git" / "config").read_text()
    assert not Path("/etc/passwd").read_text().startswith("pwned")


async def test_str_replace_needs_a_unique_match(tools):
    ambiguous = await edit(tools, command="str_replace", path="app/main.py", old_str="x = 1", new_str="x = 3")
    assert ambiguous.is_error and "2 times" in ambiguous.content and "[1, 3]" in ambiguous.content
    missing = await edit(tools, command="str_replace", path="app/main.py", old_str="z = 9", new_str="")
    assert missing.is_error and "not found" in missing.content
    ok = await edit(tools, command="str_replace", path="app/main.py", old_str="y = 2", new_str="y = 20")
    assert ok.edited and (tools.worktree / "app/main.py").read_text() == "x = 1\ny = 20\nx = 1\n"


async def test_create_and_insert(tools):
    await edit(tools, command="create", path="pkg/new.py", file_text="a\nc\n")
    result = await edit(tools, command="insert", path="pkg/new.py", insert_line=1, insert_text="b")
    assert result.edited and (tools.worktree / "pkg/new.py").read_text() == "a\nb\nc\n"
    bad = await edit(tools, command="insert", path="pkg/new.py", insert_line=99, insert_text="z")
    assert bad.is_error and "out of range" in bad.content


async def test_search_honours_gitignore(tools):
    result = await tools.call("search", {"pattern": r"x = \d"})
    assert "app/main.py:1:" in result.content and "build/gen.py" not in result.content
    bad = await tools.call("search", {"pattern": "("})
    assert bad.is_error and "bad regular expression" in bad.content


async def test_unknown_tool_and_bad_input_are_error_results(tools):
    assert (await tools.call("teleport", {})).is_error
    assert (await edit(tools, command="view")).is_error  # no path


async def test_outline_shows_symbols_under_the_repo_path(tools):
    await edit(tools, command="create", path="app/shapes.py", file_text="class Box:\n    def area(self):\n        return 1\n")
    result = await tools.call("outline", {"path": "app/shapes.py"})
    assert not result.is_error
    assert str(tools.repo_path / "app/shapes.py") in result.content and str(tools.worktree) not in result.content
    assert "Box" in result.content and "area" in result.content


async def test_an_edit_keeps_bytes_that_are_not_utf8(tools):
    (tools.worktree / "latin.py").write_bytes(b"name = 'Jos\xe9'\nx = 1\n")
    result = await edit(tools, command="str_replace", path="latin.py", old_str="x = 1", new_str="x = 2")
    assert result.edited and (tools.worktree / "latin.py").read_bytes() == b"name = 'Jos\xe9'\nx = 2\n"


async def test_huge_files_are_refused_not_loaded(tools):
    with (tools.worktree / "big.txt").open("wb") as f:
        f.truncate(6_000_000)
    result = await edit(tools, command="view", path="big.txt")
    assert result.is_error and "over 5 MB" in result.content


async def test_search_and_edits_never_follow_a_folder_link_out(tools, tmp_path):
    """A tracked folder replaced by a link out: its index entries lead outside; all refused."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "main.py").write_text("x = 'host secret'\n")
    main = tools.worktree / "app" / "main.py"
    main.unlink()
    main.parent.rmdir()
    os.symlink(tmp_path / "elsewhere", tools.worktree / "app")
    assert "host secret" in main.read_text()  # positive control: on the host it leads there
    found = await tools.call("search", {"pattern": "secret"})
    assert not found.is_error and "host secret" not in found.content
    for command in ("view", "str_replace", "insert", "create"):
        result = await edit(tools, command=command, path="app/main.py", old_str="x", new_str="pwned",
                            insert_line=0, insert_text="pwned", file_text="pwned")
        assert result.is_error and result.content == "path escapes the worktree: app/main.py", (command, result)
    assert (await tools.call("outline", {"path": "app/main.py"})).is_error
    assert (tmp_path / "elsewhere" / "main.py").read_text() == "x = 'host secret'\n"


async def test_a_fifo_is_refused_without_blocking(tools):
    os.mkfifo(tools.worktree / "pipe.py")
    result = await edit(tools, command="view", path="pipe.py")
    assert result.is_error and "is not a file" in result.content
    assert (await edit(tools, command="create", path="pipe.py", file_text="x")).is_error
