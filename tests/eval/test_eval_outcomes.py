"""`minion eval` end to end on a suite whose outcomes are known in advance: real git, the
real sandbox, scripted models (tests/eval/eval_suite.py)."""

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from statistics import NormalDist
from urllib.parse import unquote, urlparse

from eval_suite import MODELS, outcomes_suite

from minion.cli import main
from minion.runs.events import log_path, read_events
from minion.runs.store import RunStore

A, B = (f"default · {m}" for m in MODELS)


def wilson_by_quadratic(passes: int, n: int) -> tuple[float, float]:
    """The Wilson interval as the roots of (p̂ - p)² = z² p (1 - p) / n, solved for p: not
    the harness's formula, so a slip in either shows."""
    z = NormalDist().inv_cdf(0.975)
    p_hat = passes / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def test_the_harness_reports_each_known_outcome_its_rates_and_the_paired_difference(tmp_path, capsys):
    suite = outcomes_suite(tmp_path)
    out = tmp_path / "out"
    argv = ["eval", str(suite), "--model", MODELS[0], "--model", MODELS[1], "--out", str(out), "--max-parallel", "2"]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)

    trials = {(t["task"], t["variant"]): t for t in summary["trials"]}
    assert len(summary["trials"]) == 8 and summary["complete"]
    expected = {
        ("solved", A): ("pass", "ok"), ("solved", B): ("pass", "ok"),
        ("judge-fails", A): ("fail", "ok"), ("judge-fails", B): ("pass", "ok"),
        ("capped", A): ("fail", "capped_turns"), ("capped", B): ("fail", "capped_turns"),
        ("setup-fails", A): ("error", None), ("setup-fails", B): ("error", None),
    }
    assert {key: (t["outcome"], t["status"]) for key, t in trials.items()} == expected

    # The setup's failure is an error, said with its output, and no run was made for it.
    for variant in (A, B):
        failed = trials["setup-fails", variant]
        assert "setup failed (exit 3)" in failed["error"] and "no such toolchain" in failed["error"]
        assert failed["run_id"] is None
    # minion's own checks passed where the hidden judge failed.
    cheat = RunStore().get(trials["judge-fails", A]["run_id"])
    assert cheat.status == "ok" and cheat.checks and all(c.ok for c in cheat.checks)
    assert trials["judge-fails", A]["judge"]["exit_code"] != 0
    assert trials["capped", A]["turns"] == 2
    for key, t in trials.items():
        if t["outcome"] != "error":
            # the judge ran in the sandbox, on the hidden test laid over the result
            assert "judge sandboxed=1" in t["judge"]["output"], key
            assert t["wall_s"] > 0 and t["run_id"] and t["cost_usd"] == 0.0
            for field in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
                assert t[field] >= 0
    assert trials["solved", A]["branch"].startswith("minion/")
    assert "+    return a + b" in trials["solved", B]["patch"]

    stats = {s["variant"]: s for s in summary["stats"]}
    for variant, passes in ((A, 1), (B, 2)):
        s = stats[variant]
        assert (s["passes"], s["judged"], s["errors"], s["trials"]) == (passes, 3, 1, 4)
        assert s["pass_rate"] == passes / 3
        lo, hi = wilson_by_quadratic(passes, 3)
        assert s["interval"][0] == _approx(lo) and s["interval"][1] == _approx(hi)
        assert s["cost_per_task"] == 0.0 and s["cost_per_pass"] == 0.0
    assert stats[A]["median_turns"] == 2 and stats[B]["median_turns"] == 2

    paired = summary["paired"]
    assert paired["baseline"] == A
    assert paired["variants"][B]["per_task"] == {"solved": 0.0, "judge-fails": 1.0, "capped": 0.0,
                                                 "setup-fails": None}
    assert paired["variants"][B]["tasks"] == 3 and paired["variants"][B]["mean"] == _approx(1 / 3)

    # Every trial is on disk, one line each, and a resumed eval with nothing left runs nothing.
    assert len((out / "results.jsonl").read_text().splitlines()) == 8
    runs_before = len(RunStore().recent(limit=100))
    html = tmp_path / "report.html"
    assert main([*argv, "--resume", "--html", str(html)]) == 0
    table = capsys.readouterr().out
    assert len(RunStore().recent(limit=100)) == runs_before
    for shown in ("33%", "67%", "+100%", "+33%", "capped_turns", "error"):
        assert shown in table, shown
    _check_html_renders(html, tmp_path / "report.png", summary)

    # SWE-bench's predictions: the one task with an instance_id, once per variant, its patch.
    assert main([*argv, "--resume", "--format", "swebench"]) == 0
    predictions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["instance_id"], p["model_name_or_path"]) for p in predictions] == [("calc__calc-1", A),
                                                                                  ("calc__calc-1", B)]
    assert all("+    return a + b" in p["model_patch"] for p in predictions)


def _check_html_renders(html, png, summary):
    """Headless Chromium draws the page: the chart has a dot per variant, the grid a row
    per task, and each run's cell links to its report, which exists."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert chromium, "the HTML report's test needs Chromium (apt-get install chromium)"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1000"]
    dom = subprocess.run([*flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    shot = subprocess.run([*flags, f"--screenshot={png}", html.as_uri()], capture_output=True, timeout=120)
    assert shot.returncode == 0 and png.stat().st_size > 10_000, shot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dom.count("<circle") == 2 and 'id="chart"' in dom
    grid = dom[dom.index('id="grid"'):]
    for task in summary["tasks"]:
        assert f"<td>{task}</td>" in grid
    links = re.findall(r'href="(file://[^"]+\.md)"', grid)
    assert len(links) == 6  # every trial with a run, not the two whose setup failed
    assert all(Path(unquote(urlparse(link).path)).is_file() for link in links)


def test_the_judges_files_are_invisible_to_the_agent(tmp_path, capsys):
    """Variant a of `solved` searches the whole sandbox for the judge's file first."""
    suite = outcomes_suite(tmp_path)
    for other in ("judge-fails", "capped", "setup-fails"):
        (suite / other / "task.toml").unlink()  # just the probing task
    assert main(["eval", str(suite), "--model", MODELS[0], "--out", str(tmp_path / "out"), "--json"]) == 0
    [trial] = json.loads(capsys.readouterr().out)["trials"]
    assert trial["outcome"] == "pass"
    results = [e for e in read_events(log_path(trial["run_id"]))
               if e["type"] == "agent.tool_result" and e["tool"] == "bash"]
    assert len(results) == 1 and "probe-done" in results[0]["output"]
    assert "hidden_judge" not in results[0]["output"]
    # ... while the judge had it, in the sandbox
    assert "judge sandboxed=1" in trial["judge"]["output"] and "1 passed" in trial["judge"]["output"]


def _approx(x: float):
    import pytest

    return pytest.approx(x, abs=1e-12)
