import stat
from pathlib import Path

from minion.blueprint import Run, blueprint
from minion.context import find_todos


def remove_todo_comment(worktree: Path, path: str, text: str, patterns: list[str]) -> bool:
    """Delete the TODO comment with this text from the file, wherever the agent's edits moved it.

    Exactly the TODO's bytes go (see minion.context.todos): the user's comments next to it,
    CRLF line ends and any other byte stay as they were.
    """
    todo = next((t for t in find_todos(worktree, [path], patterns) if t.text == text), None)
    file = worktree / path
    if todo is None or not stat.S_ISREG(file.lstat().st_mode):
        return False
    data = file.read_bytes()
    file.write_bytes(data[: todo.start_byte] + data[todo.end_byte :])
    return True


@blueprint("todo", "Do what a TODO comment asks, remove the comment, check, repair, commit")
async def todo(run: Run) -> None:
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
