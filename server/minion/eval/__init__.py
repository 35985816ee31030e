"""``minion eval``: run a suite of tasks for each variant (blueprint × model), judge each
result with the task's hidden check, and compare the variants (docs/eval.md).

suite.py reads the tasks, runner.py runs the trials, judge.py judges them in the sandbox,
stats.py computes the numbers, report.py shows them.
"""

from .report import print_summary, summarize
from .runner import Eval, Plan, Variant, read_results, variants_of
from .stats import paired_differences, variant_stats, wilson
from .suite import BUILTIN, Task, Trigger, default_models, load_suite, suite_folder

__all__ = [
    "BUILTIN", "Eval", "Plan", "Task", "Trigger", "Variant", "load_suite", "paired_differences", "print_summary",
    "read_results", "summarize", "variant_stats", "variants_of", "wilson", "run_eval", "default_models", "suite_folder",
]


def run_eval(plan: Plan, *, resume: bool, on_result=None) -> dict:
    """Run the plan to the end (SIGINT/SIGTERM stop it: the runs at work are cancelled and
    not recorded) and return its summary."""
    import asyncio
    import signal

    evaluation = Eval(plan, on_result=on_result or (lambda result: None))

    async def main() -> list[dict]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, evaluation.stop)
            except (RuntimeError, ValueError):  # not the main thread: the caller stops it
                pass
        return await evaluation.run(resume=resume)

    summary = summarize(plan, asyncio.run(main()))
    summary["interrupted"] = evaluation.stopping
    return summary
