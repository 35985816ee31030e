import re
import stat
from pathlib import Path

from minion.blueprint import blueprint
from minion.context import find_todos

# The comment opener left before a trailing TODO once the marker and its text are cut.
TRAILING_OPENER = re.compile(r"\s*(#+|//+|--|;+|/\*+)\s*$")


def remove_todo_comment(worktree: Path, path: str, text: str, patterns) -> bool:
    """Delete the TODO comment with this text from the file, wherever the agent's edits moved it.

    Lines are split on "\n" only, as TODO line numbers count them, and the bytes are kept:
    CRLF files stay CRLF and any other character survives.
    """
    todo = next((t for t in find_todos(worktree, [path], patterns) if t.text == text), None)
    file = worktree / path
    if todo is None or not stat.S_ISREG(file.lstat().st_mode):
        return False
    lines = file.read_bytes().decode("utf-8", "surrogateescape").split("\n")
    marker_line = lines[todo.line - 1]
    ending = "\r" if marker_line.endswith("\r") else ""
    code = TRAILING_OPENER.sub("", marker_line[: todo.column - 1])
    if code.strip():  # code before the comment on the marker's line: keep it
        lines[todo.line - 1] = code.rstrip() + ending
        del lines[todo.line : todo.end_line]
    else:
        del lines[todo.line - 1 : todo.end_line]
    file.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
    return True


@blueprint("todo", "Do what a TODO comment asks, remove the comment, check, repair, commit")
async def todo(run):
    await run.gather_context()
    await run.agent(
        "implement",
        run.task_prompt() + "\n\nThe task comes from a TODO comment. Remove that comment as part of your change.",
    )
    if run.anchor and run.anchor.path:
        await run.step(
            "remove TODO", remove_todo_comment, run.worktree, run.anchor.path, run.anchor.text,
            run.settings.todo_patterns,
        )
    await run.check_and_repair()
    await run.commit()
