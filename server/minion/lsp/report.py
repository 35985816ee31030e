"""The run report (markdown, opened in the editor) and the branch's web link.

The link is a GitHub/GitLab compare URL when the repo has such a remote and the run's
branch is on it at the run's head (push is opt-in: ``push = true``); otherwise it is the
report file. Everything here is synchronous git and file work: callers run it in a thread.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from ..runs.model import CheckResult, NodeRecord, RunRecord
from ..snapshot import diff, readable
from ..state import state_dir

MAX_DIFF_CHARS = 200_000
MAX_CHECK_OUTPUT_CHARS = 6_000


def report_path(run_id: str) -> Path:
    folder = state_dir() / "reports"
    folder.mkdir(exist_ok=True)
    return folder / f"{run_id}.md"


def write_report(record: RunRecord, nodes: list[NodeRecord], link: str | None) -> Path:
    diff_text = diff(Path(record.repo), record.base, record.head) if record.head and record.base else ""
    path = report_path(record.id)
    path.write_text(render_report(record, nodes, diff_text, link), encoding="utf-8")
    return path


def render_report(record: RunRecord, nodes: list[NodeRecord], diff_text: str, link: str | None) -> str:
    usage = record.usage
    lines = [
        f"# minion run {record.id}: {_first_line(record.task)}",
        "",
        f"**{record.status.value}**" + (f" — {record.summary}" if record.summary else ""),
        "",
        f"- branch: `{record.branch}`" + (f" ([compare]({link}))" if link and link.startswith("http") else ""),
        f"- base: snapshot `{(record.base or '')[:12]}` of your HEAD `{(record.base_head or 'unborn')[:12]}`",
        f"- repository: `{record.repo}`",
        f"- blueprint `{record.blueprint}`, model `{record.model}`",
        f"- usage: {usage.input_tokens} input + {usage.output_tokens} output tokens, ${usage.cost_usd:.4f}",
        f"- started {_when(record.created_at)}, last update {_when(record.updated_at)}",
        "",
        "## Task",
        "",
        fenced(record.task),
    ]
    if record.error:
        lines += ["", "## Error", "", fenced(record.error)]
    if record.sensitive:  # first: these run code on your machine once merged or opened
        lines += ["", "## Review these first", ""]
        lines += [f"- `{readable(c.path)}`: {c.why}" for c in record.sensitive]
    if record.refused:
        lines += ["", "## Left out of the branch", "", "(still in the run's worktree)", ""]
        lines += [f"- `{readable(r.path)}`: {r.why}" for r in record.refused]
    lines += ["", "## Steps", "", *_steps_table(nodes)]
    lines += ["", "## Checks", "", *_checks(record.checks)]
    lines += ["", "## Files changed", ""]
    lines += [f"- `{path}`" for path in record.files] or ["(none)"]
    if diff_text:
        cut = diff_text[:MAX_DIFF_CHARS]
        whole = f"`git diff {record.base} {record.branch}`"
        note = "" if cut == diff_text else f"\n(diff cut at {MAX_DIFF_CHARS} characters: {whole})"
        lines += ["", "## Diff", "", fenced(cut, "diff") + note]
    return "\n".join(lines) + "\n"


def _steps_table(nodes: list[NodeRecord]) -> list[str]:
    if not nodes:
        return ["(none recorded)"]
    rows = ["| step | kind | status | seconds | summary |", "|---|---|---|---|---|"]
    for node in nodes:
        seconds = f"{node.ended_at - node.started_at:.1f}" if node.ended_at else "…"
        rows.append(f"| {_cell(node.name)} | {node.kind} | {node.status} | {seconds} | {_cell(node.summary)} |")
    return rows


def _checks(checks: list[CheckResult]) -> list[str]:
    if not checks:
        return ["(no checks ran)"]
    out = []
    for check in checks:
        if check.ok:
            verdict = "passed"
        elif check.preexisting:
            verdict = "already failing before this run (not the run's doing)"
        else:
            verdict = "timed out" if check.timed_out else f"failed (exit {check.exit_code})"
        out += [f"### {check.name}: {verdict}", "", f"`{check.command}` in {check.duration_s:.1f}s", ""]
        if check.baseline and not check.baseline["ok"]:
            out += ["Failing before the run: " + ", ".join(f"`{f}`" for f in check.baseline["failures"]), ""]
        if check.changed:
            out += ["The check changed " + ", ".join(f"`{readable(p)}`" for p in check.changed)
                    + "; minion put them back.", ""]
        if not check.ok:
            out += [fenced(check.output[-MAX_CHECK_OUTPUT_CHARS:]), ""]
    return out


def fenced(text: str, lang: str = "") -> str:
    """A code fence longer than any run of backticks inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:100] if text.strip() else "(no task)"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
