"""``--html FILE``: the eval as one self-contained page (no script, no outside file): a
pass-rate-vs-cost chart of the variants as inline SVG, their table, and a task × variant
grid whose cells link to each run's report."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ..lsp.report import write_report
from ..runs.store import RunStore

W, H = 560, 320  # the chart
PAD_L, PAD_R, PAD_T, PAD_B = 56, 24, 16, 44
COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.pass { background: #dcfce7; } td.fail { background: #fee2e2; } td.error { background: #fef9c3; }
td.mixed { background: #ffedd5; } td { white-space: nowrap; }
td a, td span { color: inherit; text-decoration: none; display: block; }
.key { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
svg text { font: 12px system-ui, sans-serif; }
"""


def report_links(trials: list[dict[str, Any]], store: RunStore) -> dict[str, str]:
    """Each run's report (the markdown the editor opens), written now; run id -> file URI."""
    links = {}
    for trial in trials:
        if trial.get("run_id"):
            try:
                record = store.get(trial["run_id"])
                links[trial["run_id"]] = write_report(record, store.nodes(record.id), None).as_uri()
            except Exception:  # a run gone from the store (cleaned): its cell has no link
                continue
    return links


def chart(stats: list[dict[str, Any]]) -> str:
    """Pass rate (with its 95 % interval) against cost per task, one dot per variant."""
    costs = [s["cost_per_task"] or 0.0 for s in stats]
    top = max(costs) * 1.15 or 1.0  # all free (scripted models): the dots sit on the y axis
    inner_w, inner_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(cost: float) -> float:
        return PAD_L + inner_w * cost / top

    def y(rate: float) -> float:
        return PAD_T + inner_h * (1 - rate)

    parts = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img" aria-label="pass rate against cost per task">']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    for i in range(5):
        cost = top * i / 4
        parts.append(f'<text x="{x(cost):.1f}" y="{H - PAD_B + 18}" text-anchor="middle">${cost:.3g}</text>')
    parts.append(f'<line x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{H - PAD_B}" stroke="#999"/>'
                 f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{H - PAD_B}" y2="{H - PAD_B}" stroke="#999"/>'
                 f'<text x="{PAD_L + inner_w / 2}" y="{H - 6}" text-anchor="middle">cost per task (USD)</text>')
    taken: dict[float, int] = {}  # variants at the same cost sit side by side, not on top of each other
    for number, (s, cost) in enumerate(zip(stats, costs, strict=True), 1):
        if s["pass_rate"] is None:
            continue
        colour = COLOURS[(number - 1) % len(COLOURS)]
        lo, hi = s["interval"]
        cx = x(cost) + 14 * taken.get(cost, 0)
        taken[cost] = taken.get(cost, 0) + 1
        parts.append(f'<g class="variant" data-variant="{escape(s["variant"])}">'
                     f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{colour}" '
                     f'stroke-width="2"/><circle cx="{cx:.1f}" cy="{y(s["pass_rate"]):.1f}" r="6" fill="{colour}"/>'
                     f'<text x="{cx + 10:.1f}" y="{y(s["pass_rate"]) - 8:.1f}">#{number}</text>'
                     f'<title>{escape(s["variant"])}: {s["pass_rate"]:.0%} '
                     f'({lo:.0%}–{hi:.0%}), ${cost:.4f} per task</title></g>')
    parts.append("</svg>")
    return "".join(parts)


def _money(x: float | None) -> str:
    return "–" if x is None else f"${x:.4f}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:g}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def render(summary: dict[str, Any], links: dict[str, str]) -> str:
    stats = summary["stats"]
    rows = []
    for number, s in enumerate(stats, 1):
        colour = COLOURS[(number - 1) % len(COLOURS)]
        lo, hi = s["interval"]
        median_time = "–" if s["median_wall_s"] is None else f"{s['median_wall_s']:.1f}s"
        rows.append(f'<tr><td><span class="key" style="background:{colour}"></span>#{number} {escape(s["variant"])}'
                    f'</td><td>{_pct(s["pass_rate"])}</td><td>{_pct(lo)}–{_pct(hi)}</td>'
                    f'<td>{s["passes"]}/{s["judged"]}</td><td>{s["errors"]}</td><td>{_money(s["cost_per_task"])}</td>'
                    f'<td>{_money(s["cost_per_pass"])}</td><td>{_num(s["median_turns"])}</td>'
                    f'<td>{median_time}</td></tr>')
    labels = [v["label"] for v in summary["variants"]]
    paired = summary["paired"]
    grid = ["<tr><th>task</th>", *(f"<th>#{n}</th>" for n in range(1, len(labels) + 1)),
            *(f"<th>Δ #{n}</th>" for n in range(2, len(labels) + 1)), "</tr>"]
    for task in summary["tasks"]:
        grid.append(f"<tr><td>{escape(task)}</td>")
        for label in labels:
            grid.append(_cell([t for t in summary["trials"] if t["task"] == task and t["variant"] == label], links))
        for label in labels[1:]:
            d = paired["variants"][label]["per_task"][task]
            grid.append(f"<td>{'–' if d is None else f'{d:+.0%}'}</td>")
        grid.append("</tr>")
    if len(labels) > 1:
        means = [paired["variants"][label]["mean"] for label in labels[1:]]
        grid.append("<tr><th>mean Δ</th>" + "<td></td>" * len(labels)
                    + "".join(f"<th>{'–' if m is None else f'{m:+.0%}'}</th>" for m in means) + "</tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>minion eval: {escape(Path(summary['suite']).name)}</title>
<style>{STYLE}</style></head><body>
<h1>minion eval: {escape(Path(summary['suite']).name)}</h1>
<p>{len(summary['tasks'])} tasks × {len(labels)} variants × {summary['repeat']} repeat(s).
Pass rates leave out errors (a setup that failed, a judge that crashed); the bars are 95 % Wilson intervals.</p>
<h2>Pass rate against cost</h2>
{chart(stats)}
<h2>Variants</h2>
<table id="variants"><tr><th>variant</th><th>pass rate</th><th>95% CI</th><th>passes</th><th>errors</th>
<th>cost/task</th><th>cost/pass</th><th>median turns</th><th>median time</th></tr>{''.join(rows)}</table>
<h2>Tasks</h2>
<p>Each cell links to its run's report; Δ is the pass rate's difference against #1 on the same task.</p>
<table id="grid">{''.join(grid)}</table>
</body></html>
"""


def _cell(trials: list[dict[str, Any]], links: dict[str, str]) -> str:
    """One task × variant: each repeat's outcome, linking to its run's report."""
    if not trials:
        return '<td class="missing">not run</td>'
    outcomes = {t["outcome"] for t in trials}
    kind = outcomes.pop() if len(outcomes) == 1 else "mixed"
    shown = []
    for trial in trials:
        text = f"{trial['outcome']} <small>{escape(trial['status'] or '')}</small>"
        tip = escape(trial["error"] or f"{trial['status']}, {trial['turns']} turns, ${trial['cost_usd']:.4f}")
        link = links.get(trial.get("run_id") or "")
        shown.append(f'<a href="{escape(link)}" title="{tip}">{text}</a>' if link
                     else f'<span title="{tip}">{text}</span>')
    return f'<td class="{kind}">{"".join(shown)}</td>'


def write_html(summary: dict[str, Any], path: Path, store: RunStore) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(summary, report_links(summary["trials"], store)))
    return path
