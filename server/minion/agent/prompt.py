"""The prompt: a stable, cacheable prefix (instructions, rules, repo map), then the task.

Nothing volatile (run ids, timestamps, temp paths) goes into the prefix, so every turn of
every run in a repo can reuse the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

INSTRUCTIONS = """\
You are minion, a careful software engineer working alone on one task in the repository at \
{repo}. Nobody will answer questions: make reasonable decisions and finish the task.

How you work:
- The repository is a private copy; edit it freely with str_replace_based_edit_tool. Use \
absolute paths under {repo}.
- Each bash call runs in a fresh shell at the repository root, in a sandbox with no network. \
Use it to run tests and inspect the code.
- Use `search` to find code and `outline` to see a file's structure before reading all of it.
- Make the smallest change that does the task well, in the code's existing style.
- Never weaken, skip or delete tests to make them pass; fix the code instead.
- Do not commit: minion commits your work when you are done.
- When you are done, reply with a short summary of what you changed and why, and no tool call.
"""


CACHE = {"type": "ephemeral"}


def system_blocks(repo_path: Path, rules: str, repo_map: str) -> list[dict[str, Any]]:
    """The cached prefix, after the tools: instructions and rules, then the repo map.

    Two breakpoints: the first ends what every run in this repo shares (tools, instructions,
    rules), the second ends what this run shares across its turns (the repo map, which is
    ranked for the task).
    """
    blocks: list[dict[str, Any]] = [{"type": "text", "text": INSTRUCTIONS.format(repo=repo_path)}]
    if rules.strip():
        blocks.append({"type": "text", "text": "Rules from this repository:\n\n" + rules})
    blocks[-1]["cache_control"] = dict(CACHE)
    if repo_map.strip():
        blocks.append({"type": "text", "text": "Map of the repository (most relevant first):\n\n" + repo_map,
                       "cache_control": dict(CACHE)})
    return blocks


def task_prompt(task: str, anchor: str, checks: dict[str, str]) -> str:
    parts = [f"Task:\n{task.strip()}"]
    if anchor.strip():
        parts.append(f"Where the task points:\n{anchor.strip()}")
    if checks:
        listed = "\n".join(f"- {name}: `{command}`" for name, command in checks.items())
        parts.append(f"When you finish, these checks must pass (minion runs them):\n{listed}")
    return "\n\n".join(parts)


def repair_prompt(failed: list[Any], left_out: list[str], checks: Sequence[Any] = ()) -> str:
    """``failed``: the checks to fix; ``checks``: all the last ones (for what they changed)."""
    parts = []
    if failed:
        parts.append("The checks failed after your change. Fix the code so that they pass; do not "
                     "weaken the checks or the tests.")
    for c in failed:
        section = f"### {c.name} (`{c.command}`, exit code {c.exit_code})\n```\n{c.output.strip()}\n```"
        if c.baseline and not c.baseline["ok"]:
            before = "\n".join(f"- {f}" for f in c.baseline["failures"])
            section += f"\nThese already failed before your change; they are not yours to fix:\n{before}"
        parts.append(section)
    for c in checks:
        if c.changed:
            listed = "\n".join(f"- {path}" for path in c.changed)
            parts.append(f"The check {c.name} changed files; minion put them back as you left them:\n{listed}")
    if left_out:
        parts.append(left_out_note(left_out))
    return "\n\n".join(parts)


def left_out_note(left_out: list[str]) -> str:
    listed = "\n".join(f"- {line}" for line in left_out)
    return (f"minion's commit guard will leave these out of the branch:\n{listed}\n"
            "If they belong to the change, fix them (a smaller file, a link inside the repository, "
            "a plain name, no secret); if not, delete them.")


CONTINUE = "You reached the output limit mid-answer. Continue exactly where you stopped."


def cut_call_note(tool: str) -> str:
    return (
        f"Your {tool} call was cut off by the output limit, so it was not run. Make it again in "
        "smaller pieces: several smaller edits instead of one large one."
    )
