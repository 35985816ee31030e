"""Terminal output: live progress on stderr, results and tables on stdout (rich)."""

from __future__ import annotations

import time
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.status import Status as Spinner
from rich.table import Table

from .agent.usage import Usage
from .runs.events import describe
from .runs.model import NodeRecord, RunRecord
from .snapshot import readable

STATUS_STYLE = {
    "ok": "green", "done": "green", "running": "cyan", "queued": "cyan", "failed_checks": "yellow",
    "cancelled": "magenta", "lost": "red", "failed": "red",
}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "yellow" if status.startswith("capped") or status == "stuck" else "red")
    return f"[{style}]{escape(status)}[/]"


class ProgressView:
    """One finished line per node, and a spinner for what is happening now."""

    def __init__(self, console: Console):
        self.console = console
        self.spinner: Spinner | None = None

    def __enter__(self) -> ProgressView:
        self.spinner = self.console.status("starting…")
        self.spinner.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.spinner:
            self.spinner.stop()

    def _show(self, text: str) -> None:
        if self.spinner:
            self.spinner.update(escape(text))

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("run.start", "run.resume"):
            verb = "resumes run" if kind == "run.resume" else "run"
            self.console.print(f"[bold]minion[/] {verb} {event['run']} · {escape(event['blueprint'])} · "
                               f"{escape(event['model'])}")
        elif kind == "node.replayed":
            self.console.print(f"  [dim]↺ {escape(event['name'])} (done before, replayed)[/]")
        elif kind == "node.end":
            mark = "[green]✓[/]" if event["status"] == "ok" else "[red]✗[/]"
            summary = f" [dim]{escape(event['summary'])}[/]" if event.get("summary") else ""
            self.console.print(f"  {mark} {escape(event['name'])} [dim]({event['duration_s']:.1f}s)[/]{summary}")
        elif kind == "log" and event.get("level") == "warning":
            self.console.print(f"  [yellow]warning:[/] {escape(event['message'])}")
        elif (line := describe(event)) is not None:
            self._show(line)


class BatchView:
    """A live table of many runs: one row each, with the node it is on."""

    def __init__(self, console: Console, rows: dict[str, str]):
        self.console = console
        self.rows = rows  # run id -> label (path:line)
        self.state = {run_id: "queued" for run_id in rows}
        self.live = Live(self._table(), console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> BatchView:
        self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.stop()

    def _table(self) -> Table:
        table = Table(box=None, header_style="bold")
        for column in ("run", "todo", "now"):
            table.add_column(column)
        for run_id, label in self.rows.items():
            table.add_row(run_id, escape(label), self.state[run_id])
        return table

    def on_event(self, event: dict[str, Any]) -> None:
        run_id, kind = event["run"], event["type"]
        if kind == "node.start":
            self.state[run_id] = escape(event["name"]) + "…"
        elif kind == "run.end":
            self.state[run_id] = styled(event["status"])
        else:
            return
        self.live.update(self._table())


def age(ts: float) -> str:
    seconds = int(time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def local_time(ts: float) -> str:
    """An event's time stamp as the user's clock shows it, to the millisecond."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def kept_branch(record: RunRecord) -> str | None:
    """The run's branch, if there is one: a run that ended with no change leaves none."""
    return record.branch if record.files or record.revises or record.status.active else None


def ran_on(r: RunRecord) -> str:
    """Where a run executed: "local", or its fleet worker ("fleet" until one claims it)."""
    if r.fleet is None:
        return "local"
    return r.fleet.worker or "fleet"


def _run_rows(records: list[RunRecord], *, show_repo: bool) -> list[dict[str, str]]:
    """One row per run; the "ran on" column only when a run of them is a fleet run."""
    fleet = any(r.fleet for r in records)
    rows = []
    for r in records:
        row = {"id": r.id, "status": r.status.value, "started": age(r.created_at),
               "cost": f"${r.usage.cost_usd:.2f}", "branch": kept_branch(r) or "-"}
        if show_repo:
            row["repo"] = r.repo
        if fleet:
            row["ran on"] = ran_on(r)
        row["task"] = r.task.splitlines()[0][:60] if r.task.strip() else ""
        rows.append(row)
    return rows


def runs_table(records: list[RunRecord], *, show_repo: bool = False) -> Table:
    """The runs as a table for a terminal: identifiers never wrap (nor do status, age and
    cost); the task wraps instead. Print it with `print_table`, which never cuts a column."""
    rows = _run_rows(records, show_repo=show_repo)
    table = Table(box=None, header_style="bold")
    for column in (rows[0] if rows else ["id", "status", "started", "cost", "branch",
                                          *(["repo"] if show_repo else []), "task"]):
        if column == "task":
            table.add_column(column, overflow="fold", min_width=12)
        else:
            whole = max((cell_len(row[column]) for row in rows), default=0)
            table.add_column(column, no_wrap=True, min_width=max(whole, len(column)))
    for row in rows:
        table.add_row(*(styled(v) if k == "status" else escape(v) for k, v in row.items()))
    return table


def print_table(console: Console, table: Table) -> None:
    """A table at least as wide as its columns' minimum widths: on a narrow terminal the
    wrapping column gives way and no column is cut (the terminal shows a longer line as it does)."""
    padding = table.padding[1] + table.padding[3]
    needed = sum((column.min_width or 1) + padding for column in table.columns)
    if needed <= console.width:
        console.print(table)
        return
    wide = Console(file=console.file, width=needed, force_terminal=console.is_terminal, highlight=False,
                   color_system=console.color_system, no_color=console.no_color)  # type: ignore[arg-type]
    wide.print(table, crop=False)


def runs_plain(records: list[RunRecord], *, show_repo: bool = False) -> str:
    """The runs as plain rows (no terminal: a pipe, a file): whole values, padded to align,
    one run a line, never cut or wrapped at any width."""
    rows = _run_rows(records, show_repo=show_repo)
    if not rows:
        return ""
    header = list(rows[0])
    lines = [header, *([row[k] for k in header] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def print_result(console: Console, record: RunRecord, diffstat: str, log: str) -> None:
    console.print(f"[bold]status[/]  {styled(record.status.value)}  {escape(record.summary)}")
    console.print(f"[bold]branch[/]  {escape(kept_branch(record) or '(none: the run changed nothing)')}")
    if record.fleet:
        page = f" · {record.fleet.web_ui}" if record.fleet.web_ui else ""
        console.print(f"[bold]fleet[/]   ran on {escape(ran_on(record))} · workflow "
                      f"{escape(record.fleet.workflow_id)}{escape(page)}", soft_wrap=True)  # the link whole
    if record.files:
        console.print("[bold]changes[/]")
        console.print(escape(diffstat), highlight=False)
    for change in record.sensitive:
        console.print(f"[bold yellow]review first[/] {escape(change.path)}: {escape(change.why)}")
    for refusal in record.refused:
        console.print(f"[bold yellow]left out[/] {escape(readable(refusal.path))}: {escape(refusal.why)}")
    for check in record.checks:
        if check.ok:
            console.print(f"[bold]check[/]   {escape(check.name)}: [green]passed[/]")
        elif check.preexisting and check.baseline:
            console.print(f"[bold]check[/]   {escape(check.name)}: [yellow]already failing before this run[/]: "
                          f"{escape(', '.join(check.baseline['failures']) or check.baseline['summary'])}")
        else:
            console.print(f"[bold]check[/]   {escape(check.name)}: [red]FAILED[/]")
            tail = "\n".join(check.output.strip().splitlines()[-12:])
            console.print(f"[dim]{escape(tail)}[/]", highlight=False)
        if check.changed:
            console.print(f"[dim]          it changed {escape(', '.join(check.changed))}; put back[/]")
    usage = record.usage
    if usage.input_tokens or usage.output_tokens:
        console.print(
            f"[bold]usage[/]   {usage.input_tokens} in, {usage.output_tokens} out, "
            f"cache {usage.cache_read_tokens} read / {usage.cache_write_tokens} written, ${usage.cost_usd:.4f}"
        )
    if record.error:
        console.print(f"[bold red]error[/]   {escape(record.error.strip().splitlines()[-1])}")
    console.print(f"[bold]log[/]     {escape(log)}")


def nodes_table(nodes: list[NodeRecord]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("#", "node", "kind", "status", "time", "tokens in/out", "cost", "summary"):
        table.add_column(column)
    for n in nodes:
        took = f"{n.ended_at - n.started_at:.1f}s" if n.ended_at else "…"
        tokens, cost = _node_usage(n.usage)
        table.add_row(str(n.seq), escape(n.name), n.kind, styled(n.status), took, tokens, cost, escape(n.summary[:100]))
    return table


def _node_usage(usage: Usage) -> tuple[str, str]:
    """An agent node's tokens (all input, cached or not / output) and cost; blank for other nodes."""
    if not (usage.total_input_tokens or usage.output_tokens):
        return "", ""
    return f"{usage.total_input_tokens}/{usage.output_tokens}", f"${usage.cost_usd:.4f}"
