"""What an eval shows: the whole result as data (``--json``) and as terminal tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .runner import Plan
from .stats import paired_differences, variant_stats


def summarize(plan: Plan, trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The eval's result: the trials, each variant's numbers, the paired differences."""
    tasks = [t.name for t in plan.tasks]
    variants = [v.label for v in plan.variants]
    return {
        "suite": str(plan.suite),
        "out": str(plan.out),
        "repeat": plan.repeat,
        "tasks": tasks,
        "variants": [{"label": v.label, "blueprint": v.blueprint, "model": v.model} for v in plan.variants],
        "complete": len(trials) == len(plan.trials()),
        "stats": [variant_stats(label, [t for t in trials if t["variant"] == label]).to_dict() for label in variants],
        "paired": paired_differences(tasks, variants, trials),
        "errors": [{"task": t["task"], "variant": t["variant"], "repeat": t["repeat"], "error": t["error"]}
                   for t in trials if t["outcome"] == "error"],
        "trials": list(trials),
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _money(x: float | None) -> str:
    return "–" if x is None else f"${x:.3f}"


def _num(x: float | None, unit: str = "") -> str:
    return "–" if x is None else f"{x:g}{unit}" if unit != "s" else f"{x:.1f}s"


OUTCOME_STYLE = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "error": "[yellow]error[/]"}


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    # Variants go by number in the tables (their labels are long); the first table names them.
    for number, s in enumerate(summary["stats"], 1):
        console.print(f"[bold]#{number}[/] {escape(s['variant'])}", soft_wrap=True)
    variants = Table(title="Variants", title_justify="left")
    for column in ("#", "pass", "95% CI", "passes", "errors", "$/task", "$/pass", "turns", "time"):
        variants.add_column(column, justify="right", no_wrap=True)
    variants.caption = "turns and time: medians; $/task: per judged trial"
    for number, s in enumerate(summary["stats"], 1):
        lo, hi = s["interval"]
        variants.add_row(f"#{number}", _pct(s["pass_rate"]), f"{_pct(lo)}–{_pct(hi)}",
                         f"{s['passes']}/{s['judged']}", str(s["errors"]), _money(s["cost_per_task"]),
                         _money(s["cost_per_pass"]), _num(s["median_turns"]), _num(s["median_wall_s"], "s"))
    console.print(variants)

    labels = [v["label"] for v in summary["variants"]]
    paired = summary["paired"]
    grid = Table(title="Tasks (Δ: pass rate against #1, over the repeats)", title_justify="left")
    grid.add_column("task")
    for number, _ in enumerate(labels, 1):
        grid.add_column(f"#{number}", justify="right")
    for number, _ in enumerate(labels[1:], 2):
        grid.add_column(f"Δ #{number}", justify="right")
    for task in summary["tasks"]:
        cells = []
        for label in labels:
            these = [t for t in summary["trials"] if t["task"] == task and t["variant"] == label]
            rate = paired["rates"][task][label]
            if not these:
                cells.append("[dim]not run[/]")
            elif rate is None:
                cells.append(OUTCOME_STYLE["error"])
            elif len(these) == 1:
                cells.append(f"{OUTCOME_STYLE[these[0]['outcome']]} [dim]{escape(these[0]['status'] or '')}[/]")
            else:
                cells.append(_pct(rate))
        for label in labels[1:]:
            d = paired["variants"][label]["per_task"][task]
            cells.append("–" if d is None else f"{100 * d:+.0f}%")
        grid.add_row(escape(task), *cells)
    if len(labels) > 1:
        means = [paired["variants"][label]["mean"] for label in labels[1:]]
        grid.add_row("[bold]mean Δ[/]", *([""] * len(labels)),
                     *("–" if m is None else f"{100 * m:+.0f}%" for m in means))
    console.print(grid)
    for e in summary["errors"]:
        console.print(f"[yellow]error[/] {escape(e['task'])} · {escape(e['variant'])} #{e['repeat']}: "
                      f"{escape((e['error'] or '').splitlines()[0] if e['error'] else '')}")
    if not summary["complete"]:
        console.print(f"[yellow]incomplete:[/] finish it with --resume --out {escape(summary['out'])}")


def swebench_predictions(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """SWE-bench's predictions (``--format swebench``): one per judged trial of a task with an
    ``instance_id``. ``model_name_or_path`` is the variant (and the repeat, when there are
    several), so each pair with the instance is unique, as SWE-bench's harness wants."""
    predictions = []
    for t in summary["trials"]:
        if not t.get("instance_id") or t["run_id"] is None:
            continue
        name = t["variant"] if summary["repeat"] == 1 else f"{t['variant']} #r{t['repeat']}"
        predictions.append({"instance_id": t["instance_id"], "model_name_or_path": name,
                            "model_patch": t.get("patch") or ""})
    return predictions
