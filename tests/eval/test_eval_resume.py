"""An eval interrupted by SIGINT mid-suite resumes with --resume and finishes without
running again what had finished."""

import json
import os
import signal
import subprocess
import sys
import time

from eval_suite import MODELS, resume_suite

from minion.runs.store import RunStore


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _eval(suite, out, *more) -> list[str]:
    return [sys.executable, "-m", "minion", "eval", str(suite), "--model", MODELS[0], "--out", str(out), *more]


def test_an_interrupted_eval_resumes_and_skips_the_finished_tasks(tmp_path):
    suite = resume_suite(tmp_path)
    out = tmp_path / "out"
    results = out / "results.jsonl"
    proc = subprocess.Popen(_eval(suite, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _lines(results) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert [r["task"] for r in _lines(results)] == ["t1-quick"], proc.stderr.read() if proc.poll() else ""
        # t2's first command sleeps 20 s: wait until its run is at work, then interrupt.
        while not any("t2-slow" in r.task for r in RunStore().recent(limit=10)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    first = _lines(results)
    assert [r["task"] for r in first] == ["t1-quick"]  # the interrupted trial is not a result
    [t2] = [r for r in RunStore().recent(limit=10) if "t2-slow" in r.task]
    assert t2.status == "cancelled"

    done = subprocess.run(_eval(suite, out, "--resume", "--json"), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["complete"] and [t["task"] for t in summary["trials"]] == ["t1-quick", "t2-slow", "t3-quick"]
    assert all(t["outcome"] == "pass" for t in summary["trials"])
    assert summary["trials"][0] == first[0]  # t1's result, as it was stored
    lines = _lines(results)
    assert lines[0] == first[0] and sorted(r["task"] for r in lines) == ["t1-quick", "t2-slow", "t3-quick"]
    runs = [r.task for r in RunStore().recent(limit=20)]
    assert sum("t1-quick" in task for task in runs) == 1  # t1 ran once, before the interrupt
    assert sum("t2-slow" in task for task in runs) == 2  # t2: interrupted, then again
    assert sum("t3-quick" in task for task in runs) == 1
